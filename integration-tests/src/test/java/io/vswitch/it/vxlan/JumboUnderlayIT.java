package io.vswitch.it.vxlan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.vswitch.it.harness.ExecResult;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * VXLAN over a jumbo underlay (MTU 9000, the usual data-centre fabric), IPv4 and IPv6: the vswitch
 * port gives tenants an inner MTU of 8950 (8930 over IPv6, whose outer header is 20 bytes longer), as
 * the kernel's vxlan device does, and frames of that size cross both ways to a kernel vxlan peer: unfragmented pings of 8000 bytes (DF set, so nothing on the way may cut them) and
 * a TCP stream whose segments are as large as the inner MTU allows. No datagram is too long for the
 * receive buffers ({@code oversize}) and no inner frame too long for the tunnel.
 */
class JumboUnderlayIT extends VxlanTestBase {
    private static final int VNI = 4343;
    private static final int UNDERLAY_MTU = 9000;

    @ParameterizedTest(name = "IPv{0} underlay")
    @ValueSource(ints = {4, 6})
    void tenantsWithAJumboMtuPingAndStreamAcrossAKernelVxlan(int ipVersion) {
        boolean ipv6 = ipVersion == 6;
        int outerIp = ipv6 ? 40 : 20;
        int innerMtu = UNDERLAY_MTU - outerIp - 8 - 8 - 14;
        Underlay u = Underlay.create(ns, ipv6, UNDERLAY_MTU);
        KernelPeer far = KernelPeer.create(ns, u.host2(), VNI, u.addr2(), u.addr1(), "198.18.101.2/24", innerMtu);
        String vx = vxlanPort(VNI, u.addr1(), u.addr2(), u.host1());
        Host a = host("a", "198.18.101.1/24", "--mtu", Integer.toString(innerMtu));
        JsonNode shown = port(vx).path("vxlan");
        assertEquals(UNDERLAY_MTU, shown.path("underlayMtu").asInt(), shown::toString);
        assertEquals(innerMtu, shown.path("innerMtu").asInt(), () -> "9000 - " + outerIp + " - 8 - 8 - 14: " + shown);

        pingWhole(far.tenantNetns(), a.ip(), vx);
        pingWhole(a.netns(), far.tenantIp(), vx);
        assertTrue(iperfBits(a.netns(), far.tenantNetns(), far.tenantIp()) > 0);
        assertTrue(iperfBits(far.tenantNetns(), a.netns(), a.ip()) > 0);

        JsonNode tunnel = port(vx);
        assertEquals(0, tunnel.path("vxlan").path("networkDrops").path("oversize").asLong(), tunnel::toString);
        assertEquals(0, tunnel.path("drops").path("too-big-for-tunnel").asLong(), tunnel::toString);
        assertTrue(tunnel.path("txSegmented").asLong() > 0, () -> "super-frames were segmented for the tunnel: " + tunnel);
    }

    /** Three 8000-byte pings with DF set from {@code netns} to {@code ip}: each must come back whole. */
    private void pingWhole(String netns, String ip, String tunnel) {
        ExecResult r = ns.exec(netns, "ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", "-M", "do", "-s", "8000", ip);
        assertTrue(r.exitCode() == 0 && r.stdout().contains("3 received"), () -> r.describe() + "\ntunnel port: " + port(tunnel));
    }
}
