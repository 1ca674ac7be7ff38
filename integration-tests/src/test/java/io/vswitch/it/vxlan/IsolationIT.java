package io.vswitch.it.vxlan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.vswitch.it.harness.PingResult;
import org.junit.jupiter.api.Test;

/**
 * Two VNIs on one local VTEP (one shared socket) towards two kernel vxlan devices: each tenant reaches
 * only the tenant of its own VNI; packets from an address that is not a configured remote, and
 * malformed VXLAN packets, are dropped and counted each under their own reason.
 */
class IsolationIT extends VxlanTestBase {

    @Test
    void twoVnisDoNotLeakAndBadPacketsAreCounted() {
        Underlay u = Underlay.create(ns, false);
        KernelPeer far100 = KernelPeer.create(ns, u.host2(), 100, u.addr2(), u.addr1(), "198.18.102.11/24", 1450);
        KernelPeer far200 = KernelPeer.create(ns, u.host2(), 200, u.addr2(), u.addr1(), "198.18.102.12/24", 1450);
        String vx100 = ns.linkName("vx");
        String vx200 = ns.linkName("vx");
        for (String[] p : new String[][] {{vx100, "100", "10"}, {vx200, "200", "20"}}) {
            cli("add-port", p[0], "--type", "vxlan", "--vni", p[1], "--local", u.addr1(), "--remote", u.addr2(),
                    "--netns", u.host1(), "--vlan", p[2]);
        }
        Host a100 = host("a1", "198.18.102.1/24", "--mtu", "1450", "--vlan", "10");
        Host a200 = host("a2", "198.18.102.2/24", "--mtu", "1450", "--vlan", "20");
        assertEquals(vx100, port(vx200).path("vxlan").path("receivingPort").asText(), "both VNIs share the first port's socket");

        assertTrue(ns.ping(a100.netns(), far100.tenantIp(), 2).allReceived(), "VNI 100 reaches its tenant");
        assertTrue(ns.ping(a200.netns(), far200.tenantIp(), 2).allReceived(), "VNI 200 reaches its tenant");
        PingResult leak1 = ns.ping(a100.netns(), far200.tenantIp(), 2);
        PingResult leak2 = ns.ping(far200.tenantNetns(), a100.ip(), 2);
        assertEquals(0, leak1.received(), leak1::toString);
        assertEquals(0, leak2.received(), leak2::toString);
        for (JsonNode e : json("fdb", "show")) {
            if (e.path("mac").asText().equals(far200.tenantMac())) {
                assertEquals(vx200, e.path("port").asText(), "VNI 200's tenant is only ever behind VNI 200's port");
            }
        }
        assertFalse(far100.fdb(ns).contains(a200.mac()), "the VNI 100 device never saw the VNI 200 tenant");

        // Crafted packets from host 2, and one from an address that is no remote of the ports. (VNI 200's
        // multicast may already have met an unknown VNI while only VNI 100's port existed: count from here.)
        long unknownVniBefore = drops(vx100).path("unknown-vni").asLong();
        ns.exec(u.host2(), "ip", "addr", "add", "198.18.100.3/24", "dev", u.dev2()).orThrow();
        send(u.host2(), u.addr2(), u.addr1(), "0800000000006400", 3); // too short for an inner Ethernet header
        send(u.host2(), u.addr2(), u.addr1(), "0000000000006400" + frame(), 1); // I flag missing
        send(u.host2(), u.addr2(), u.addr1(), "0800000100006400" + frame(), 1); // a reserved flag bit
        send(u.host2(), u.addr2(), u.addr1(), "0800000000006401" + frame(), 1); // the reserved byte after the VNI
        send(u.host2(), u.addr2(), u.addr1(), "0800000000012c00" + frame(), 2); // VNI 300: no such port
        send(u.host2(), "198.18.100.3", u.addr1(), "0800000000006400" + frame(), 4); // VNI 100, unknown VTEP
        await(java.time.Duration.ofSeconds(5), () -> drops(vx100).path("unknown-vtep").asLong() == 4, () -> drops(vx100).toString());
        JsonNode drops = drops(vx100);
        assertEquals(3, drops.path("truncated").asLong(), drops::toString);
        assertEquals(1, drops.path("i-flag-missing").asLong(), drops::toString);
        assertEquals(2, drops.path("reserved-bits").asLong(), drops::toString);
        assertEquals(2, drops.path("unknown-vni").asLong() - unknownVniBefore, drops::toString);
        assertEquals(drops.path("unknown-vni").asLong(), drops(vx200).path("unknown-vni").asLong(),
                "what the socket dropped shows on each of its ports");
        assertEquals(0, drops(vx200).path("unknown-vtep").asLong(), "the stranger's packets were VNI 100's");
        assertTrue(cli("show").stdout().contains("unknown-vtep"), "show names the drops too");
        assertTrue(ns.ping(a100.netns(), far100.tenantIp(), 1).allReceived(), "and the tunnel still works");
    }

    private JsonNode drops(String port) {
        return port(port).path("vxlan").path("networkDrops");
    }

    /** A 60-byte broadcast ARP-typed frame from 02:00:00:00:99:01, as hex. */
    private static String frame() {
        return "ffffffffffff" + "020000009901" + "0806" + "00".repeat(46);
    }

    /** Sends the hex payload {@code times} as UDP datagrams from {@code from} to {@code to}:4789 inside {@code netns}. */
    private void send(String netns, String from, String to, String hex, int times) {
        ns.exec(netns, "python3", "-c", "import socket,sys\n"
                + "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                + "s.bind((sys.argv[1],0))\n"
                + "for _ in range(int(sys.argv[4])): s.sendto(bytes.fromhex(sys.argv[3]),(sys.argv[2],4789))\n",
                from, to, hex, Integer.toString(times)).orThrow();
    }
}
