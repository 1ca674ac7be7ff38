package io.vswitch.it.system;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.vswitch.it.harness.ArpingResult;
import io.vswitch.it.harness.BackgroundProcess;
import io.vswitch.it.harness.Exec;
import io.vswitch.it.harness.ExecResult;
import io.vswitch.it.harness.Requirements;
import io.vswitch.it.harness.SwitchProcess;
import java.nio.file.Path;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * System ports against real kernel peers. The LAN is a namespace with a kernel bridge; a veth joins
 * it to the root namespace, where its end (the uplink) is added to the switch as a system
 * port, the way a host's NIC would be. A far host hangs off the LAN bridge on a veth of its own; a
 * tenant namespace sits on a TAP port.
 */
class SystemPortIT extends UplinkTestBase {
    private static final Pattern PROMISCUITY = Pattern.compile("promiscuity (\\d+)");

    @BeforeEach
    void startSwitch() {
        Requirements.check("arping");
        start();
    }


    private static int promiscuity(String dev) {
        String out = Exec.run("ip", "-d", "link", "show", "dev", dev).orThrow().stdout();
        Matcher m = PROMISCUITY.matcher(out);
        assertTrue(m.find(), out);
        return Integer.parseInt(m.group(1));
    }

    @Test
    void tenantReachesTheLanThroughTheUplink() {
        Lan lan = lan("198.18.0.2/24");
        cli("add-port", lan.uplink(), "--type", "system");
        Host tenant = host("a", "198.18.0.1/24");

        assertTrue(ns.ping(tenant.netns(), lan.far().ip(), 5).allReceived(), "tenant pings the LAN host");
        assertTrue(ns.ping(lan.far().netns(), tenant.ip(), 3).allReceived(), "the LAN host pings the tenant");
        ArpingResult arp = ns.arping(tenant.netns(), tenant.port(), lan.far().ip(), 3);
        assertTrue(arp.answered() && arp.macs().contains(lan.far().mac()), arp::toString);
        assertTrue(fdb().contains(lan.far().mac() + " " + lan.uplink() + " 0"), () -> "far MAC learned on the uplink: " + fdb());
        assertEquals("up", port(lan.uplink()).path("link").asText());
        assertEquals("system", port(lan.uplink()).path("type").asText());

        JsonNode out = iperf3(tenant, lan.far(), 2);
        assertTrue(out.path("end").path("sum_received").path("bits_per_second").asDouble() > 0, out::toString);
        assertTrue(port(tenant.port()).path("rxGsoFrames").asLong() > 0, "the tenant's TSO super-frames");
        assertEquals(0, port(lan.uplink()).path("txSegmented").asLong(), "super-frames leave through the uplink whole");

        JsonNode back = iperf3(tenant, lan.far(), 2, "-R");
        assertTrue(back.path("end").path("sum_received").path("bits_per_second").asDouble() > 0, back::toString);
        JsonNode uplink = port(lan.uplink());
        assertTrue(uplink.path("rxGsoFrames").asLong() > 0, () -> "super-frames arrive whole from the LAN: " + uplink);
        assertEquals(0, port(tenant.port()).path("txSegmented").asLong(), "and reach the TAP whole");
    }

    @Test
    void promiscuousWhileAttachedAndTheInterfaceOutlivesThePort() {
        Lan lan = lan("198.18.0.2/24");
        int before = promiscuity(lan.uplink());
        cli("add-port", lan.uplink(), "--type", "system", "--queues", "2");
        assertEquals(before + 1, promiscuity(lan.uplink()), "promiscuous while attached");
        assertEquals(2, port(lan.uplink()).path("queues").asInt());
        Host tenant = host("a", "198.18.0.1/24");
        assertTrue(ns.ping(tenant.netns(), lan.far().ip(), 3).allReceived());

        cli("del-port", lan.uplink());
        assertTrue(Exec.run("ip", "link", "show", "dev", lan.uplink()).ok(), "the interface still exists");
        assertEquals(before, promiscuity(lan.uplink()), "promiscuous mode is off again");
        ExecResult show = Exec.run("ip", "-o", "link", "show", "dev", lan.uplink()).orThrow();
        assertTrue(show.stdout().contains(",UP") || show.stdout().contains("<UP"), "still up: " + show.stdout());
        assertFalse(ns.ping(tenant.netns(), lan.far().ip(), 2).received() > 0, "no longer switched");
    }

    @Test
    void linkDownAndUpIsFollowed() {
        Lan lan = lan("198.18.0.2/24");
        cli("add-port", lan.uplink(), "--type", "system");
        Host tenant = host("a", "198.18.0.1/24");
        assertTrue(ns.ping(tenant.netns(), lan.far().ip(), 2).allReceived());

        Exec.run("ip", "link", "set", "dev", lan.uplink(), "down").orThrow();
        await(Duration.ofSeconds(5), () -> port(lan.uplink()).path("link").asText().equals("down"), () -> "link down shown");
        assertFalse(ns.ping(tenant.netns(), lan.far().ip(), 2).received() > 0);
        Exec.run("ip", "link", "set", "dev", lan.uplink(), "up").orThrow();
        await(Duration.ofSeconds(5), () -> port(lan.uplink()).path("link").asText().equals("up"), () -> "link up shown");
        assertTrue(ns.ping(tenant.netns(), lan.far().ip(), 3).allReceived(), "forwarding again after up");

        // Carrier: the LAN side going down takes the uplink's carrier away.
        ns.linkDown(lan.netns(), lan.lanSide());
        await(Duration.ofSeconds(5), () -> port(lan.uplink()).path("link").asText().equals("down"), () -> "no carrier shown");
        ns.linkUp(lan.netns(), lan.lanSide());
        await(Duration.ofSeconds(5), () -> port(lan.uplink()).path("link").asText().equals("up"), () -> "carrier back");
        // The carrier was gone for less than the once-a-second housekeeping poll: the port's own count
        // of the transitions it was told about still makes it a loss.
        await(Duration.ofSeconds(5), () -> port(lan.uplink()).path("linkLosses").asLong() == 2,
                () -> "both losses counted: " + port(lan.uplink()));
        assertTrue(ns.ping(tenant.netns(), lan.far().ip(), 3).allReceived());
    }

    @Test
    void uplinkDeletedUnderTrafficTakesOnlyItsPortDown() {
        Lan lan = lan("198.18.0.3/24");
        cli("add-port", lan.uplink(), "--type", "system");
        Host a = host("a", "198.18.0.1/24");
        Host b = host("b", "198.18.0.2/24");
        assertTrue(ns.ping(a.netns(), lan.far().ip(), 2).allReceived());
        try (BackgroundProcess flood = ns.startBackground(a.netns(), "ping", "-n", "-q", "-i", "0.01", "-c", "300", b.ip());
                BackgroundProcess toLan = ns.startBackground(a.netns(), "ping", "-n", "-q", "-i", "0.01", "-c", "300",
                        "-W", "1", lan.far().ip())) {
            sleep(500);
            Exec.run("ip", "link", "del", "dev", lan.uplink()).orThrow();
            assertEquals(0, flood.waitFor(Duration.ofSeconds(30)), flood::output);
            assertTrue(flood.output().contains(" 0% packet loss"), flood::output);
            toLan.waitFor(Duration.ofSeconds(30));
        }
        assertTrue(sw.isAlive(), sw::outputTail);
        await(Duration.ofSeconds(5), () -> port(lan.uplink()).path("linkLosses").asLong() == 1, () -> port(lan.uplink()).toString());
        assertEquals("down", port(lan.uplink()).path("link").asText());
        assertFalse(fdb().stream().anyMatch(e -> e.contains(" " + lan.uplink() + " ")), "its addresses are forgotten");
        assertTrue(ns.ping(b.netns(), a.ip(), 3).allReceived(), "the other ports keep forwarding");
        cli("del-port", lan.uplink());
    }

    @Test
    void containerVethAttachedBesideATapTenant() {
        String container = ns.create("ctr");
        ns.exec(container, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1").orThrow();
        String inside = ns.linkName("c");
        String hostSide = rootVeth("h", container, inside);
        Host ctr = configure(container, inside, "198.18.0.2/24");
        cli("add-port", hostSide, "--type", "system");
        Host tenant = host("a", "198.18.0.1/24");

        assertTrue(ns.ping(tenant.netns(), ctr.ip(), 3).allReceived(), "TAP tenant to container");
        assertTrue(ns.ping(ctr.netns(), tenant.ip(), 3).allReceived(), "container to TAP tenant");
        assertTrue(fdb().contains(ctr.mac() + " " + hostSide + " 0"), () -> fdb().toString());
        JsonNode toTenant = iperf3(ctr, tenant, 2);
        assertTrue(toTenant.path("end").path("sum_received").path("bits_per_second").asDouble() > 0, toTenant::toString);
        assertTrue(port(hostSide).path("rxGsoFrames").asLong() > 0, "the container's TSO frames arrive whole");
    }

    @Test
    void restoredFromTheConfigAfterACrashWhichLeavesTheInterfaceAsItWas() {
        Lan lan = lan("198.18.0.2/24");
        int before = promiscuity(lan.uplink());
        Path state = tempDir("state");
        SwitchProcess first = start(SwitchProcess.builder().stateDir(state).logFile(logFile("first")));
        cli("add-port", lan.uplink(), "--type", "system", "--trunk", "10,20", "--native", "10");
        assertEquals(before + 1, promiscuity(lan.uplink()));

        first.kill9();
        await(Duration.ofSeconds(5), () -> promiscuity(lan.uplink()) == before, () -> "promiscuous mode outlived the daemon");
        assertTrue(Exec.run("ip", "link", "show", "dev", lan.uplink()).ok(), "the interface outlives the daemon");

        start(SwitchProcess.builder().stateDir(state).logFile(logFile("second")));
        JsonNode uplink = port(lan.uplink());
        assertEquals("system", uplink.path("type").asText());
        assertEquals("up", uplink.path("link").asText());
        assertEquals(before + 1, promiscuity(lan.uplink()), "attached again");
        Host tenant = host("a", "198.18.0.1/24", "--vlan", "10");
        assertTrue(ns.ping(tenant.netns(), lan.far().ip(), 3).allReceived(), "native VLAN 10 restored: " + uplink);
    }
}
