package io.vswitch.it.system;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.it.harness.Exec;
import io.vswitch.it.harness.ExecResult;
import io.vswitch.it.harness.Requirements;
import io.vswitch.it.harness.SwitchTestBase;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A system port as a VLAN trunk toward a LAN: the LAN is a kernel bridge (no VLAN filtering, so it
 * carries tagged frames as they are) in a namespace joined to the switch by a veth, and a LAN host
 * speaks tagged ARP through a packet socket ({@code vlan-arp-probe.py}; this kernel has no 8021q, so
 * no VLAN subinterfaces). The kernel strips the tag of every frame the uplink receives, so this also
 * proves the port puts it back.
 */
class SystemTrunkIT extends SwitchTestBase {

    @BeforeEach
    void startSwitch() {
        Requirements.check("python3");
        start();
    }

    private ExecResult probe(Host lanHost, int vid, String srcIp, String dstIp) {
        try (InputStream script = getClass().getResourceAsStream("/vlan-arp-probe.py")) {
            Path file = Files.createTempFile("vlan-arp-probe", ".py");
            try {
                Files.write(file, script.readAllBytes());
                return ns.exec(lanHost.netns(), Duration.ofSeconds(15), "python3", file.toString(), lanHost.port(),
                        Integer.toString(vid), srcIp, dstIp, "2");
            } finally {
                Files.deleteIfExists(file);
            }
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void taggedLanReachesAccessTenantsThroughATrunkUplink() {
        String lanNs = ns.create("lan");
        String farNs = ns.create("far");
        String uplink = ns.linkName("u");
        String lanSide = ns.linkName("l");
        Exec.run("ip", "link", "add", "name", uplink, "type", "veth", "peer", "name", lanSide, "netns", lanNs).orThrow();
        Exec.run("sysctl", "-qw", "net.ipv6.conf." + uplink + ".disable_ipv6=1").orThrow();
        Exec.run("ip", "link", "set", "dev", uplink, "up").orThrow();
        ns.exec(lanNs, "ip", "link", "add", "br0", "type", "bridge").orThrow();
        ns.exec(lanNs, "ip", "link", "set", "dev", lanSide, "master", "br0").orThrow();
        String farIf = ns.linkName("f");
        String bridgeSide = ns.linkName("b");
        ns.vethPair(farNs, farIf, lanNs, bridgeSide);
        ns.exec(lanNs, "ip", "link", "set", "dev", bridgeSide, "master", "br0").orThrow();
        for (String dev : new String[] {"br0", lanSide, bridgeSide}) {
            ns.linkUp(lanNs, dev);
        }
        Host far = configure(farNs, farIf, null);

        cli("add-port", uplink, "--type", "system", "--trunk", "10,20");
        Host a10 = host("a", "198.18.10.1/24", "--vlan", "10");
        Host b20 = host("b", "198.18.20.2/24", "--vlan", "20");

        ExecResult in10 = probe(far, 10, "198.18.10.4", a10.ip());
        assertEquals(0, in10.exitCode(), in10::describe);
        assertEquals(a10.mac(), in10.stdout().trim(), "the VLAN 10 tenant answers, tagged 10 on the LAN");
        ExecResult in20 = probe(far, 20, "198.18.20.4", b20.ip());
        assertEquals(0, in20.exitCode(), in20::describe);
        assertEquals(b20.mac(), in20.stdout().trim());
        assertEquals(1, probe(far, 10, "198.18.20.4", b20.ip()).exitCode(), "198.18.20.2 lives in VLAN 20, not 10");
        assertEquals(1, probe(far, 30, "198.18.10.4", a10.ip()).exitCode(), "VLAN 30 is not on the trunk");
        assertTrue(fdb().contains(far.mac() + " " + uplink + " 10"), () -> fdb().toString());
        assertTrue(fdb().contains(far.mac() + " " + uplink + " 20"), () -> fdb().toString());
        assertTrue(port(uplink).path("drops").path("vlan-not-allowed").asLong() > 0, () -> port(uplink).toString());
    }
}
