package io.vswitch.vxlan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The header codec, the source-port spread, strict address parsing and the checks on a port's settings. */
class VxlanCodecTest {

    @Test
    void headerRoundTripsAndRejectsWhatTheKernelRejects() {
        ByteBuffer b = ByteBuffer.allocate(16);
        VxlanHeader.write(b, 4, 0xabcdef);
        assertEquals(0x0800_0000, b.getInt(4));
        assertEquals(0xabcdef, VxlanHeader.vni(b, 4, 8));
        assertEquals(VxlanHeader.TRUNCATED, VxlanHeader.vni(b, 4, 7));
        b.putInt(4, 0);
        assertEquals(VxlanHeader.NO_I_FLAG, VxlanHeader.vni(b, 4, 8));
        b.putInt(4, 0x0880_0000); // GBP's G bit
        assertEquals(VxlanHeader.RESERVED_BITS, VxlanHeader.vni(b, 4, 8));
        b.putInt(4, 0x0800_0000);
        b.put(11, (byte) 1);
        assertEquals(VxlanHeader.RESERVED_BITS, VxlanHeader.vni(b, 4, 8));
    }

    @Test
    void addressesAreParsedStrictlyWithoutDns() {
        assertEquals("2001:2::1", UnderlayAddress.parse("2001:0002:0:0::1", "--local").toString());
        assertEquals("198.18.0.1", UnderlayAddress.parse("198.18.0.1", "--local").toString());
        for (String bad : List.of("localhost", "198.18.0", "198.18.0.256", "example.org", "239.1.1.1", "0.0.0.0", "fe80::1%lo")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> UnderlayAddress.parse(bad, "--remote"));
            assertTrue(e.getMessage().startsWith("--remote"), e.getMessage());
        }
    }

    @Test
    void settingsNameEachProblem() {
        assertEquals(4789, VxlanSettings.parse(5, "198.18.0.1", List.of("198.18.0.2"), null, null, null, null, null, null).dstPort());
        assertMessage("needs --vni", () -> VxlanSettings.parse(null, "198.18.0.1", List.of("any"), null, null, null, null, null, null));
        assertMessage("out of range", () -> VxlanSettings.parse(1 << 24, "198.18.0.1", List.of("any"), null, null, null, null, null, null));
        assertMessage("needs --local", () -> VxlanSettings.parse(1, null, List.of("any"), null, null, null, null, null, null));
        assertMessage("needs --remote", () -> VxlanSettings.parse(1, "198.18.0.1", List.of(), null, null, null, null, null, null));
        assertMessage("different families", () -> VxlanSettings.parse(1, "198.18.0.1", List.of("2001:2::2"), null, null, null, null, null, null));
        assertMessage("given twice", () -> VxlanSettings.parse(1, "198.18.0.1", List.of("198.18.0.2", "198.18.0.2"), null, null, null, null, null, null));
        assertMessage("use set or unset", () -> VxlanSettings.parse(1, "198.18.0.1", List.of("any"), null, null, "maybe", null, null, null));
        assertMessage("--ttl 0", () -> VxlanSettings.parse(1, "198.18.0.1", List.of("any"), null, 0, null, null, null, null));
        assertEquals(50, VxlanSettings.parse(1, "198.18.0.1", List.of("any"), null, null, null, null, null, null).overhead());
        assertEquals(70, VxlanSettings.parse(1, "2001:2::1", List.of("any"), null, null, null, null, null, null).overhead());
    }

    private static void assertMessage(String part, org.junit.jupiter.api.function.Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(part), e.getMessage());
    }
}
