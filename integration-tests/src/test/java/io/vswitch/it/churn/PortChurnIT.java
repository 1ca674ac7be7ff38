package io.vswitch.it.churn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vswitch.it.harness.BackgroundProcess;
import io.vswitch.it.harness.Requirements;
import io.vswitch.it.harness.SwitchTestBase;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Ports added and removed 200 times while broadcast floods cross the switch (issue 8, defect 1).
 *
 * <p>A removed port's fds used to be closed while flooding threads of other ports could still write
 * to them; the kernel hands a closed fd number to the next {@code open}, which on del-port is the
 * configuration's temp file and on the next add-port a new TAP. So after every change the
 * configuration file must be exactly one valid JSON document listing exactly the live ports, and the
 * sentinel namespace, whose ports (one fixed, and every other churned one) are alone in VLAN 20
 * where nobody sends anything, must receive no frame at all.
 */
class PortChurnIT extends SwitchTestBase {
    private static final int CYCLES = 200;
    private static final int FLOOD_VLAN = 10;
    private static final int SENTINEL_VLAN = 20;
    private static final ObjectMapper STRICT = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    @BeforeEach
    void startSwitch() {
        Requirements.check("tcpdump");
        start();
    }

    @Test
    void portsComeAndGoUnderABroadcastFloodWithoutStrayWrites() throws Exception {
        Host a = host("a", "198.18.16.1/24", "--vlan", "" + FLOOD_VLAN);
        Host b = host("b", "198.18.16.2/24", "--vlan", "" + FLOOD_VLAN, "--queues", "2");
        Host c = host("c", "198.18.16.3/24", "--vlan", "" + FLOOD_VLAN);
        for (Host h : List.of(a, b, c)) {
            ns.exec(h.netns(), "sysctl", "-qw", "net.ipv4.icmp_echo_ignore_broadcasts=0").orThrow();
        }
        Host sentinel = host("s", null, "--vlan", "" + SENTINEL_VLAN);
        String churnNs = ns.create("x");
        Path config = sw.stateDir().resolve("vswitch.json");
        List<String> fixedPorts = List.of(a.port(), b.port(), c.port(), sentinel.port());

        try (BackgroundProcess watch = ns.startBackground(sentinel.netns(), "tcpdump", "-i", "any", "-Q", "in",
                "-nn", "-e", "-l", "not ip6");
                ControlConnection control = new ControlConnection(sw.socket());
                BackgroundProcess floodA = ns.startBackground(a.netns(), "ping", "-q", "-f", "-b", "-w", "900",
                        "198.18.16.255");
                BackgroundProcess floodB = ns.startBackground(b.netns(), "ping", "-q", "-f", "-b", "-w", "900",
                        "198.18.16.255")) {
            awaitListening(watch);
            long floodedBefore = txPackets(control, c.port());
            for (int i = 0; i < CYCLES; i++) {
                boolean toSentinel = i % 2 == 1;
                String name = ns.linkName(toSentinel ? "s" : "x");
                ObjectNode add = ControlConnection.args().put("name", name).put("type", "tap")
                        .put("netns", toSentinel ? sentinel.netns() : churnNs)
                        .put("vlan", toSentinel ? SENTINEL_VLAN : FLOOD_VLAN);
                control.call("add-port", add);
                assertConfigLists(config, fixedPorts, name, i);
                if (toSentinel) {
                    ns.linkUp(sentinel.netns(), name);
                }
                control.call("del-port", ControlConnection.args().put("name", name));
                assertConfigLists(config, fixedPorts, null, i);
            }
            long flooded = txPackets(control, c.port()) - floodedBefore;
            assertTrue(floodA.isAlive() && floodB.isAlive(), () -> "a flood ended early: " + floodA.output()
                    + floodB.output());
            assertTrue(flooded > 10 * CYCLES, () -> "the flood was too thin to test anything: " + flooded
                    + " frames reached " + c.port() + " during the churn");
            sleep(500); // let tcpdump print what it captured last
            String seen = watch.output();
            List<String> foreign = new ArrayList<>();
            for (String line : seen.split("\n")) {
                if (line.contains(" > ") || line.contains("ethertype")) {
                    foreign.add(line);
                }
            }
            assertEquals(List.of(), foreign, () -> "the sentinel namespace received frames of others:\n" + seen);
            System.out.printf("[churn] %d add/del cycles, %d flooded frames reached %s meanwhile%n", CYCLES, flooded,
                    c.port());
        }
        assertTrue(sw.isAlive(), sw::outputTail);
    }

    /** The configuration file is one JSON document (nothing after it) naming the fixed ports and extra, if not null. */
    private static void assertConfigLists(Path config, List<String> fixed, String extra, int cycle) throws IOException {
        byte[] bytes = Files.readAllBytes(config);
        JsonNode doc;
        try {
            doc = STRICT.readTree(bytes);
        } catch (IOException e) {
            throw new AssertionError("cycle " + cycle + ": the configuration is not valid JSON (" + e.getMessage()
                    + "); it holds " + bytes.length + " bytes", e);
        }
        List<String> names = new ArrayList<>();
        doc.path("ports").forEach(p -> names.add(p.path("name").asText()));
        List<String> expected = new ArrayList<>(fixed);
        if (extra != null) {
            expected.add(extra);
        }
        assertEquals(expected, names, "cycle " + cycle + ": ports in the configuration");
    }

    private static long txPackets(ControlConnection control, String port) throws IOException {
        for (JsonNode p : control.call("show", ControlConnection.args()).path("ports")) {
            if (p.path("name").asText().equals(port)) {
                return p.path("txPackets").asLong();
            }
        }
        throw new AssertionError("no port " + port);
    }

    /** tcpdump says "listening on" once its packet socket is open. */
    private static void awaitListening(BackgroundProcess tcpdump) {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!tcpdump.output().contains("listening on")) {
            if (!tcpdump.isAlive() || System.nanoTime() > deadline) {
                fail("tcpdump did not start in the sentinel namespace: " + tcpdump.output());
            }
            sleep(50);
        }
    }
}
