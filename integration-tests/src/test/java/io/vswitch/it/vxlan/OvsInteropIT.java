package io.vswitch.it.vxlan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.it.harness.PingResult;
import io.vswitch.it.harness.Requirements;
import org.junit.jupiter.api.Test;

/** A vswitch VXLAN port against Open vSwitch's user-space datapath with a {@code type=vxlan} interface. */
class OvsInteropIT extends VxlanTestBase {

    @Test
    void pingAndTcpCrossToOpenVswitch() {
        Requirements.check("ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-appctl");
        Underlay u = Underlay.create(ns, false);
        OvsPeer far = OvsPeer.create(ns, tempDir("ovs"), u, 5005, "198.18.105.2/24", 1450);
        onCleanup(() -> far.stop(ns));
        String vx = vxlanPort(5005, u.addr1(), u.addr2(), u.host1());
        Host a = host("a", "198.18.105.1/24", "--mtu", "1450");

        PingResult ab = ns.ping(a.netns(), far.tenantIp(), 3);
        assertTrue(ab.allReceived(), ab::toString);
        PingResult ba = ns.ping(far.tenantNetns(), a.ip(), 3);
        assertTrue(ba.allReceived(), ba::toString);
        assertTrue(iperfBits(a.netns(), far.tenantNetns(), far.tenantIp()) > 0);
        assertTrue(iperfBits(far.tenantNetns(), a.netns(), a.ip()) > 0);

        assertEquals(u.addr2(), fdbEntry(far.tenantMac()).path("remote").asText(), "vswitch learned OVS's tenant behind its VTEP");
        String ovsFdb = far.fdb(ns);
        assertTrue(ovsFdb.contains(a.mac()), () -> "OVS learned A: " + ovsFdb);
        assertTrue(port(vx).path("txSegmented").asLong() > 0, "A's super-frames were segmented for the tunnel");
    }
}
