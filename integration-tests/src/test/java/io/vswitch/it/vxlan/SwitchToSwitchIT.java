package io.vswitch.it.vxlan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.it.harness.PingResult;
import io.vswitch.it.harness.SwitchProcess;
import org.junit.jupiter.api.Test;

/**
 * Two vswitch daemons as the two ends of a tunnel, each with a TAP tenant: both directions send 64 KiB
 * TSO super-frames that the sending switch segments to the underlay MTU, and each learns the other's
 * tenant behind the other's VTEP.
 */
class SwitchToSwitchIT extends VxlanTestBase {

    @Test
    void twoSwitchesCarryPingAndTcpBothWays() {
        Underlay u = Underlay.create(ns, false);
        SwitchProcess first = sw;
        String vx1 = vxlanPort(21, u.addr1(), u.addr2(), u.host1());
        Host a = host("a", "198.18.104.1/24", "--mtu", "1450");
        SwitchProcess second = start();
        String vx2 = vxlanPort(21, u.addr2(), u.addr1(), u.host2());
        Host b = host("b", "198.18.104.2/24", "--mtu", "1450");

        PingResult ab = ns.ping(a.netns(), b.ip(), 3);
        assertTrue(ab.allReceived(), ab::toString);
        assertTrue(iperfBits(a.netns(), b.netns(), b.ip()) > 0);
        assertTrue(iperfBits(b.netns(), a.netns(), a.ip()) > 0);

        assertEquals(u.addr1(), fdbEntry(a.mac()).path("remote").asText(), "switch 2 knows A behind VTEP 1");
        assertTrue(port(vx2).path("txSegmented").asLong() > 0, "switch 2 segmented B's super-frames");
        sw = first;
        assertEquals(u.addr2(), fdbEntry(b.mac()).path("remote").asText(), "switch 1 knows B behind VTEP 2");
        assertTrue(port(vx1).path("txSegmented").asLong() > 0, "switch 1 segmented A's super-frames");
        assertTrue(port(a.port()).path("rxGsoFrames").asLong() > 0);
        sw = second;
    }
}
