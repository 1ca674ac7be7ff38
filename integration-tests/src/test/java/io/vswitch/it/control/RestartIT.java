package io.vswitch.it.control;

import io.vswitch.it.harness.SwitchTestBase;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.vswitch.it.harness.SwitchProcess;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * The configuration survives a crash: after {@code kill -9} a new daemon on the same state dir
 * brings back every port with its settings, the static FDB entries and the FDB settings, and the
 * file it reads is always complete JSON, however hard it was being rewritten at the moment of death.
 */
class RestartIT extends SwitchTestBase {

    @Test
    void everythingIsRestoredAfterKill9() throws Exception {
        Path state = tempDir("state");
        SwitchProcess first = start(SwitchProcess.builder().stateDir(state).logFile(logFile("first")));
        Host a = host("a", "198.18.6.1/24", "--vlan", "10", "--queues", "2", "--mtu", "1400");
        Host b = host("b", "198.18.6.2/24", "--trunk", "10,20", "--native", "10");
        Host c = host("c", "198.18.6.3/24", "--vlan", "10");
        cli("set-port", c.port(), "--learning", "off", "--flooding", "off", "--admin", "down");
        cli("fdb", "add", "02:00:00:00:0b:01", "--port", b.port(), "--vlan", "20");
        cli("fdb", "add", "02:00:00:00:0b:02", "--port", a.port(), "--vlan", "10");
        cli("set-ageing", "77");
        cli("set-limits", "--max-entries", "5000", "--max-per-port", "300");
        assertTrue(ns.ping(a.netns(), b.ip(), 2).allReceived());
        Map<String, JsonNode> portsBefore = ports(json("show"));
        Set<String> staticBefore = statics(json("fdb", "show"));
        assertEquals(2, staticBefore.size(), staticBefore::toString);

        first.kill9();
        assertFalse(first.isAlive());

        JsonNode file = JSON.readTree(state.resolve("vswitch.json").toFile());
        assertEquals(1, file.path("version").asInt(), file::toString);
        assertEquals(77, file.path("ageingSeconds").asInt(), file::toString);
        assertEquals(5000, file.path("fdbMaxEntries").asInt(), file::toString);
        assertEquals(300, file.path("fdbMaxPerPort").asInt(), file::toString);
        List<String> filePorts = new ArrayList<>();
        file.path("ports").forEach(p -> filePorts.add(p.path("name").asText()));
        assertEquals(List.of(a.port(), b.port(), c.port()), filePorts);
        assertEquals(2, file.path("staticFdb").size(), file::toString);
        // the killed daemon's TAPs went with it
        await(Duration.ofSeconds(10), () -> !ns.linkExists(a.netns(), a.port()), () -> a.port() + " outlived its daemon");

        start(SwitchProcess.builder().stateDir(state).logFile(logFile("second")));
        JsonNode show = json("show");
        Map<String, JsonNode> portsAfter = ports(show);
        assertEquals(portsBefore.keySet(), portsAfter.keySet());
        for (String name : portsBefore.keySet()) {
            JsonNode before = portsBefore.get(name);
            JsonNode after = portsAfter.get(name);
            for (String field : List.of("type", "queues", "vlanMode", "admin", "learning", "flooding", "spec")) {
                assertEquals(before.path(field), after.path(field), name + " " + field);
            }
        }
        assertEquals("access vlan 10", portsAfter.get(a.port()).path("vlanMode").asText());
        assertEquals("trunk 20 native 10", portsAfter.get(b.port()).path("vlanMode").asText());
        assertFalse(portsAfter.get(c.port()).path("learning").asBoolean());
        assertFalse(portsAfter.get(c.port()).path("flooding").asBoolean());
        assertEquals("down", portsAfter.get(c.port()).path("admin").asText());
        JsonNode fdb = show.path("fdb");
        assertEquals(77, fdb.path("ageingSeconds").asInt(), fdb::toString);
        assertEquals(5000, fdb.path("maxEntries").asInt(), fdb::toString);
        assertEquals(300, fdb.path("maxPerPort").asInt(), fdb::toString);
        assertEquals(staticBefore, statics(json("fdb", "show")));

        // the ports are live again: the TAPs are back in their namespaces, with their MTU, and forward
        String link = ns.exec(a.netns(), "ip", "-o", "link", "show", "dev", a.port()).orThrow().stdout();
        assertTrue(link.contains("mtu 1400"), link);
        Host a2 = configure(a.netns(), a.port(), "198.18.6.1/24");
        Host b2 = configure(b.netns(), b.port(), "198.18.6.2/24");
        assertTrue(ns.ping(a2.netns(), b2.ip(), 3).allReceived(), "a (access 10) to b (native 10) after the restart");
    }

    @Test
    void theConfigFileIsCompleteJsonWhenTheDaemonDiesMidWrite() throws Exception {
        Path state = tempDir("crash");
        String port = ns.linkName("p");
        int base = 1000;
        int lastInFile = -1;
        for (int round = 0; round < 4; round++) {
            SwitchProcess d = start(SwitchProcess.builder().stateDir(state).logFile(logFile("crash" + round)));
            if (round == 0) {
                cli("add-port", port, "--type", "tap", "--vlan", "33");
            }
            AtomicInteger lastAcked = new AtomicInteger(-1);
            AtomicReference<Throwable> unexpected = new AtomicReference<>();
            int from = base;
            Thread writer = new Thread(() -> {
                try (RawClient client = new RawClient(d.socket())) {
                    for (int n = from; n < from + 100_000; n++) {
                        JsonNode reply = n % 3 == 0
                                ? client.request("fdb-add", RawClient.args().put("mac", mac(n)).put("port", port).put("vlan", 33))
                                : client.request("set-ageing", RawClient.args().put("seconds", n));
                        if (!reply.path("ok").asBoolean()) {
                            unexpected.set(new AssertionError("refused: " + reply));
                            return;
                        }
                        if (n % 3 != 0) {
                            lastAcked.set(n);
                        }
                    }
                } catch (IOException e) {
                    // the daemon was killed under us: expected
                } catch (RuntimeException e) {
                    unexpected.set(e);
                }
            }, "config-writer");
            writer.start();
            await(Duration.ofSeconds(20), () -> lastAcked.get() >= from + 50, () -> "the daemon took too long to save 50 changes");
            sleep(50L * round);
            d.kill9();
            writer.join(10_000);
            assertEquals(null, unexpected.get());

            JsonNode file = JSON.readTree(state.resolve("vswitch.json").toFile());
            assertEquals(1, file.path("version").asInt(), file::toString);
            assertEquals(List.of(port), names(file.path("ports")));
            int ageing = file.path("ageingSeconds").asInt();
            // every acknowledged change is on disk; at most the one in flight is, too
            assertTrue(ageing >= lastAcked.get() && ageing <= lastAcked.get() + 2,
                    "file has ageing " + ageing + ", last acknowledged " + lastAcked.get());
            for (JsonNode e : file.path("staticFdb")) {
                assertTrue(e.path("mac").asText().matches("([0-9a-f]{2}:){5}[0-9a-f]{2}"), e::toString);
                assertEquals(port, e.path("port").asText());
            }
            lastInFile = ageing;
            base += 200_000;
        }
        start(SwitchProcess.builder().stateDir(state).logFile(logFile("after-crashes")));
        assertEquals(lastInFile, json("show").path("fdb").path("ageingSeconds").asInt());
        assertEquals("access vlan 33", port(port).path("vlanMode").asText());
        assertTrue(json("show").path("fdb").path("static").asInt() > 0);
    }

    private static String mac(int n) {
        return String.format("02:00:%02x:%02x:%02x:%02x", (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
    }

    private static List<String> names(JsonNode ports) {
        List<String> out = new ArrayList<>();
        ports.forEach(p -> out.add(p.path("name").asText()));
        return out;
    }

    private static Map<String, JsonNode> ports(JsonNode show) {
        Map<String, JsonNode> out = new LinkedHashMap<>();
        show.path("ports").forEach(p -> out.put(p.path("name").asText(), p));
        return out;
    }

    private static Set<String> statics(JsonNode fdb) {
        Set<String> out = new HashSet<>();
        for (JsonNode e : fdb) {
            if (e.path("static").asBoolean()) {
                out.add(e.path("mac").asText() + " " + e.path("vlan").asInt() + " " + e.path("port").asText());
            }
        }
        return out;
    }
}
