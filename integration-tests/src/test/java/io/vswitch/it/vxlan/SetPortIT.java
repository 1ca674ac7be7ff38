package io.vswitch.it.vxlan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.vswitch.it.harness.BackgroundProcess;
import io.vswitch.it.harness.ExecResult;
import io.vswitch.it.harness.PingResult;
import io.vswitch.it.harness.Requirements;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * {@code set-port} changes a vxlan port's remotes, TTL, DF and checksums live (the port is reopened)
 * and in the saved configuration; a change that cannot be made leaves the port working as it was.
 * The far end is the kernel's vxlan, which only answers the VTEP it is configured with.
 */
class SetPortIT extends VxlanTestBase {
    static final int VNI = 4343;
    private static final String NOBODY = "198.18.100.9";

    @Test
    void tunnelSettingsChangeLiveAndPersistAndBadChangesLeaveThePortAsItWas() {
        Requirements.check("tcpdump");
        Underlay u = Underlay.create(ns, false);
        KernelPeer far = KernelPeer.create(ns, u.host2(), VNI, u.addr2(), u.addr1(), "198.18.102.2/24", 1450);
        String vx = vxlanPort(VNI, u.addr1(), NOBODY, u.host1());
        Host a = host("a", "198.18.102.1/24", "--mtu", "1450");
        PingResult before = ns.ping(a.netns(), far.tenantIp(), 2);
        assertEquals(0, before.received(), () -> "the tunnel points at a VTEP nobody has: " + before);

        cli("set-port", vx, "--remote", u.addr2(), "--ttl", "17", "--udp-csum", "on");
        PingResult after = ns.ping(a.netns(), far.tenantIp(), 3);
        assertTrue(after.allReceived(), after::toString);
        JsonNode tunnel = port(vx).path("vxlan");
        assertEquals(u.addr2(), tunnel.path("remotes").path(0).asText(), tunnel::toString);
        assertEquals(1, tunnel.path("remotes").size(), tunnel::toString);
        assertEquals("ttl=17 df=unset udp-csum=on", tunnel.path("socketOptions").asText());
        String saved = read(sw.stateDir().resolve("vswitch.json"));
        assertTrue(saved.contains(u.addr2()) && saved.matches("(?s).*\"ttl\"\\s*:\\s*17.*"), saved);
        String capture = captureOne(u.host2(), u.dev2(), u.addr1(), a.netns(), far.tenantIp());
        assertTrue(capture.contains("ttl 17"), () -> "outer TTL on the wire: " + capture);

        ExecResult badTtl = cliFails(1, "set-port", vx, "--ttl", "300");
        assertTrue(badTtl.stderr().contains("ttl"), badTtl::describe);
        ExecResult onTap = cliFails(1, "set-port", a.port(), "--remote", NOBODY);
        assertTrue(onTap.stderr().contains("vxlan ports only"), onTap::describe);

        cli("fdb", "add", far.tenantMac(), "--port", vx, "--remote", u.addr2());
        ExecResult pinned = cliFails(1, "set-port", vx, "--remote", NOBODY);
        assertTrue(pinned.stderr().contains("fdb del"), pinned::describe);
        assertEquals(u.addr2(), port(vx).path("vxlan").path("remotes").path(0).asText(), "the port kept its remote");
        assertEquals(u.addr2(), fdbEntry(far.tenantMac()).path("remote").asText(), "and its static entry");
        PingResult still = ns.ping(a.netns(), far.tenantIp(), 3);
        assertTrue(still.allReceived(), still::toString);
    }

    /** One outer packet from {@code vtep} on the far underlay device (tcpdump -v), caught while the tenant pings. */
    private String captureOne(String netns, String dev, String vtep, String pingFrom, String pingTo) {
        try (BackgroundProcess dump = ns.startBackground(netns, "tcpdump", "-n", "-v", "-c", "1", "-i", dev,
                "udp", "port", "4789", "and", "src", "host", vtep)) {
            sleep(1000);
            ns.ping(pingFrom, pingTo, 2);
            dump.waitFor(Duration.ofSeconds(10));
            return dump.output();
        }
    }
}
