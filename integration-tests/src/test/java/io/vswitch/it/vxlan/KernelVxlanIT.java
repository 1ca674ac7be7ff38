package io.vswitch.it.vxlan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.vswitch.it.harness.ExecResult;
import io.vswitch.it.harness.PingResult;
import org.junit.jupiter.api.Test;

/**
 * A vswitch VXLAN port against the Linux kernel's {@code vxlan} device: host 1 runs vswitch with a TAP
 * tenant and a VXLAN port whose socket lives in host 1's underlay namespace; host 2 is a kernel vxlan
 * device in a kernel bridge with a tenant namespace. Ping and TCP (64 KiB super-frames from the TAP side)
 * cross, and both sides learn the other's MAC with its VTEP.
 */
class KernelVxlanIT extends VxlanTestBase {
    static final int VNI = 4242;

    @Test
    void pingAndTcpCrossToAKernelVxlanAndBothLearnTheVtep() {
        Underlay u = Underlay.create(ns, false);
        KernelPeer far = KernelPeer.create(ns, u.host2(), VNI, u.addr2(), u.addr1(), "198.18.101.2/24", 1450);
        String vx = vxlanPort(VNI, u.addr1(), u.addr2(), u.host1());
        Host a = host("a", "198.18.101.1/24", "--mtu", "1450");
        assertEquals(1450, port(vx).path("vxlan").path("innerMtu").asInt(), "1500 - 20 - 8 - 8 - 14");

        PingResult ab = ns.ping(a.netns(), far.tenantIp(), 3);
        PingResult ba = ns.ping(far.tenantNetns(), a.ip(), 3);
        assertTrue(ab.allReceived(), ab::toString);
        assertTrue(ba.allReceived(), ba::toString);

        assertTrue(iperfBits(a.netns(), far.tenantNetns(), far.tenantIp()) > 0);
        assertTrue(iperfBits(far.tenantNetns(), a.netns(), a.ip()) > 0);
        assertTrue(port(a.port()).path("rxGsoFrames").asLong() > 0, "the TAP side sent TSO super-frames");
        JsonNode tunnel = port(vx);
        assertTrue(tunnel.path("txSegmented").asLong() > 0, () -> "super-frames were segmented for the tunnel: " + tunnel);
        assertEquals(0, tunnel.path("drops").path("too-big-for-tunnel").asLong(), tunnel::toString);

        JsonNode learned = fdbEntry(far.tenantMac());
        assertEquals(vx, learned.path("port").asText(), learned::toString);
        assertEquals(u.addr2(), learned.path("remote").asText(), learned::toString);
        assertTrue(cli("fdb", "show").stdout().contains(u.addr2()), "the table shows the VTEP too");
        String kernelFdb = far.fdb(ns);
        assertTrue(kernelFdb.contains(a.mac() + " dst " + u.addr1()), () -> "kernel vxlan fdb: " + kernelFdb);
    }

    /**
     * With {@code --udp-csum} the port sends each super-frame's datagrams as one UDP GSO send; the kernel
     * peer verifies every outer UDP checksum and its tenant every inner TCP checksum (a bad one would be
     * counted in InCsumErrors, and TCP would retransmit around it).
     */
    @Test
    void checksummedIpv4DatagramsFromUdpGsoAreAcceptedByTheKernel() {
        Underlay u = Underlay.create(ns, false);
        KernelPeer far = KernelPeer.create(ns, u.host2(), VNI, u.addr2(), u.addr1(), "198.18.101.2/24", 1450);
        String vx = vxlanPort(VNI, u.addr1(), u.addr2(), u.host1(), "--udp-csum");
        Host a = host("a", "198.18.101.1/24", "--mtu", "1450");
        PingResult ab = ns.ping(a.netns(), far.tenantIp(), 3);
        assertTrue(ab.allReceived(), ab::toString);

        assertTrue(iperfBits(a.netns(), far.tenantNetns(), far.tenantIp()) > 0);
        JsonNode tunnel = port(vx);
        assertTrue(tunnel.path("txSegmented").asLong() > 0, () -> "super-frames were segmented for the tunnel: " + tunnel);
        assertEquals(0, tunnel.path("drops").path("tx-error").asLong(), tunnel::toString);
        assertEquals(0, snmp(u.host2(), "Udp", "InCsumErrors"), "outer UDP checksums at the kernel VTEP");
        assertEquals(0, snmp(far.tenantNetns(), "Tcp", "InCsumErrors"), "inner TCP checksums at the far tenant");
        assertTrue(snmp(u.host2(), "Udp", "InDatagrams") > 1000, "the kernel VTEP received the stream's datagrams");
    }

    /** A counter of {@code /proc/net/snmp} in namespace {@code netns}. */
    private long snmp(String netns, String protocol, String counter) {
        String[] lines = ns.exec(netns, "cat", "/proc/net/snmp").orThrow().stdout().split("\n");
        for (int i = 0; i + 1 < lines.length; i++) {
            if (lines[i].startsWith(protocol + ":") && lines[i + 1].startsWith(protocol + ":")) {
                java.util.List<String> names = java.util.List.of(lines[i].trim().split("\\s+"));
                String[] values = lines[i + 1].trim().split("\\s+");
                int at = names.indexOf(counter);
                if (at > 0) {
                    return Long.parseLong(values[at]);
                }
            }
        }
        throw new AssertionError(protocol + " " + counter + " not in /proc/net/snmp of " + netns);
    }

    @Test
    void staticRemoteEntryIsShownAndSavedWithItsVtep() {
        Underlay u = Underlay.create(ns, false);
        String vx = vxlanPort(7, u.addr1(), u.addr2(), u.host1());
        String mac = "02:00:00:00:07:01";
        ExecResult wrong = cliFails(1, "fdb", "add", mac, "--port", vx, "--remote", "198.18.100.9");
        assertTrue(wrong.stderr().contains("is not a remote of port"), wrong::describe);
        cli("fdb", "add", mac, "--port", vx, "--remote", u.addr2());
        JsonNode entry = fdbEntry(mac);
        assertTrue(entry.path("static").asBoolean(), entry::toString);
        assertEquals(u.addr2(), entry.path("remote").asText(), entry::toString);
        assertTrue(read(sw.stateDir().resolve("vswitch.json")).contains("\"remote\" : \"" + u.addr2() + "\""),
                "the static entry is saved with its VTEP");
    }
}
