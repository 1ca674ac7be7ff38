package io.vswitch.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

/** What a vhost-user port spec accepts, what it refuses (naming the problem and the fix), and that it round-trips through the config file's JSON. */
class VhostUserSpecTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void aServerModePortWithSocketAccessParsesAndRoundTrips() throws Exception {
        PortSpec spec = PortSpec.parse("vhost-user:vm0,queues=4,mode=server,path=/run/vm0.sock,group=kvm,socket-mode=0660");
        assertEquals("vhost-user", spec.type());
        assertEquals(4, spec.queueCount());
        assertEquals("server", spec.mode());
        assertEquals("kvm", spec.group());
        assertEquals("0660", spec.socketMode());
        assertNull(spec.owner());
        PortSpec back = JSON.readValue(JSON.writeValueAsString(spec), PortSpec.class);
        assertEquals(spec, back);
        assertEquals(spec, back.withFlags(null, null, null), "changing flags keeps the vhost-user settings");
    }

    @Test
    void clientModeIsTheDefault() {
        PortSpec spec = PortSpec.parse("vhost-user:vm0");
        assertNull(spec.mode());
        assertEquals(1, spec.queueCount());
    }

    @Test
    void badSettingsNameTheProblem() {
        assertMessage("mode 'listen' is unknown: use client or server", "vhost-user:vm0,mode=listen");
        assertMessage("add --mode server", "vhost-user:vm0,group=kvm");
        assertMessage("is not an octal mode", "vhost-user:vm0,mode=server,socket-mode=999");
        assertMessage("apply to vhost-user ports only", "tap:t0,mode=server");
        assertMessage("queues=17 is out of range", "vhost-user:vm0,queues=17");
    }

    private static void assertMessage(String expected, String spec) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PortSpec.parse(spec));
        assertTrue(e.getMessage().contains(expected), () -> "'" + e.getMessage() + "' should say '" + expected + "'");
    }
}
