package io.vswitch.it.vxlan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.vswitch.it.harness.PingResult;
import org.junit.jupiter.api.Test;

/**
 * The kernel interop over an IPv6 underlay (2001:2:0:100::/64): the kernel vxlan device only accepts
 * IPv6 VXLAN packets with a valid UDP checksum, so this also proves the checksums of the port's UDP GSO sends.
 */
class Ipv6UnderlayIT extends VxlanTestBase {

    @Test
    void pingAndTcpCrossAnIpv6Underlay() {
        Underlay u = Underlay.create(ns, true);
        KernelPeer far = KernelPeer.create(ns, u.host2(), 6, u.addr2(), u.addr1(), "198.18.103.2/24", 1430);
        String vx = vxlanPort(6, u.addr1(), u.addr2(), u.host1());
        Host a = host("a", "198.18.103.1/24", "--mtu", "1430");
        JsonNode tunnel = port(vx).path("vxlan");
        assertEquals(1430, tunnel.path("innerMtu").asInt(), "1500 - 40 - 8 - 8 - 14");

        PingResult ab = ns.ping(a.netns(), far.tenantIp(), 3);
        assertTrue(ab.allReceived(), ab::toString);
        assertTrue(iperfBits(a.netns(), far.tenantNetns(), far.tenantIp()) > 0);
        assertTrue(iperfBits(far.tenantNetns(), a.netns(), a.ip()) > 0);
        assertEquals(u.addr2(), fdbEntry(far.tenantMac()).path("remote").asText());
        String kernelFdb = far.fdb(ns);
        assertTrue(kernelFdb.contains(a.mac() + " dst " + u.addr1()), () -> "kernel vxlan fdb: " + kernelFdb);
        assertEquals(0, port(vx).path("drops").path("too-big-for-tunnel").asLong());
    }
}
