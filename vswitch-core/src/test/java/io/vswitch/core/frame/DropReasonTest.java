package io.vswitch.core.frame;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class DropReasonTest {
    @Test
    void labelsAreLowerCaseWithHyphensAsTheCliPrintsThem() {
        assertEquals("no-output", DropReason.NO_OUTPUT.label());
        assertEquals("runt", DropReason.RUNT.label());
        assertEquals("bad-ipv4-header", DropReason.BAD_IPV4_HEADER.label());
    }
}
