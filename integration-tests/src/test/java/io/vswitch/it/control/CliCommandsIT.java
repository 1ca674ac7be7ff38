package io.vswitch.it.control;

import io.vswitch.it.harness.SwitchTestBase;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.vswitch.it.harness.BackgroundProcess;
import io.vswitch.it.harness.Exec;
import io.vswitch.it.harness.ExecResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Every client command against a real daemon: what it prints (human and {@code --json}) and that
 * the running switch really changed (the TAP in its namespace, the FDB, forwarding).
 */
class CliCommandsIT extends SwitchTestBase {

    @Test
    void addPortListsItWithItsSettingsAndDelPortRemovesIt() throws Exception {
        start();
        String netns = ns.create("a");
        String access = ns.linkName("ac");
        String trunk = ns.linkName("tr");
        String plain = ns.linkName("pl");

        JsonNode added = json("add-port", access, "--type", "tap", "--vlan", "10", "--queues", "2",
                "--netns", netns, "--mtu", "1400", "--mac", "02:00:5e:10:00:01");
        assertEquals(access, added.path("name").asText());
        assertEquals("access vlan 10", added.path("vlanMode").asText());
        assertEquals(2, added.path("queues").asInt());
        ExecResult human = cli("add-port", trunk, "--type", "tap", "--trunk", "10,20", "--native", "30");
        assertEquals("added port " + trunk + " (tap, trunk 10,20 native 30)", human.stdout().trim());
        cli("add-port", plain, "--type", "tap");

        JsonNode a = port(access);
        assertEquals("tap", a.path("type").asText());
        assertEquals(2, a.path("queues").asInt());
        assertEquals("up", a.path("admin").asText());
        assertTrue(a.path("learning").asBoolean() && a.path("flooding").asBoolean(), a::toString);
        assertEquals(10, a.path("spec").path("vlan").asInt());
        assertEquals(1400, a.path("spec").path("mtu").asInt());
        assertEquals(netns, a.path("spec").path("netns").asText());
        assertEquals("trunk 10,20 native 30", port(trunk).path("vlanMode").asText());
        assertEquals("trunk all", port(plain).path("vlanMode").asText());

        // the options reached the kernel: the TAP is in the namespace with that MTU and MAC
        String link = ns.exec(netns, "ip", "-o", "link", "show", "dev", access).orThrow().stdout();
        assertTrue(link.contains("mtu 1400"), link);
        assertTrue(link.contains("link/ether 02:00:5e:10:00:01"), link);
        assertTrue(Exec.run("ip", "link", "show", "dev", trunk).ok(), "trunk TAP in the root namespace");

        JsonNode list = json("list-ports");
        List<String> names = new ArrayList<>();
        list.forEach(p -> names.add(p.path("name").asText()));
        assertEquals(List.of(access, trunk, plain), names);
        assertTrue(cli("list-ports").stdout().lines().anyMatch(l -> l.equals(plain + "\ttap")));

        assertEquals(access, json("del-port", access).path("removed").asText());
        assertEquals("removed port " + trunk, cli("del-port", trunk).stdout().trim());
        assertEquals(List.of(plain), portNames());
        await(Duration.ofSeconds(10), () -> !ns.linkExists(netns, access), () -> "TAP " + access + " still in " + netns);
        await(Duration.ofSeconds(10), () -> !Exec.run("ip", "link", "show", "dev", trunk).ok(), () -> "TAP " + trunk + " still there");
        cliFails(1, "del-port", trunk);
    }

    @Test
    void setPortChangesVlansLearningFloodingAndAdminOnTheRunningSwitch() {
        start();
        Host a = host("a", "198.18.1.1/24");
        Host b = host("b", "198.18.1.2/24");
        assertTrue(ns.ping(a.netns(), b.ip(), 2).allReceived());

        // VLANs: a alone in VLAN 10 cannot reach b (untagged, VLAN 0); both in 10 can
        JsonNode r = json("set-port", a.port(), "--vlan", "10");
        assertEquals("access vlan 10", r.path("vlanMode").asText());
        assertEquals("access vlan 10", port(a.port()).path("vlanMode").asText());
        assertEquals(0, ns.ping(a.netns(), b.ip(), 2).received(), "a in VLAN 10, b untagged");
        assertEquals("access vlan 10", json("set-port", b.port(), "--vlan", "10").path("vlanMode").asText());
        assertTrue(ns.ping(a.netns(), b.ip(), 3).allReceived(), "both in VLAN 10");
        // the mode lists the tagged VLANs; the native one is carried untagged
        assertEquals("trunk 20 native 10", json("set-port", a.port(), "--trunk", "10,20", "--native", "10").path("vlanMode").asText());
        JsonNode spec = port(a.port()).path("spec");
        assertEquals("[10,20]", spec.path("trunk").toString(), spec::toString);
        assertEquals(10, spec.path("nativeVlan").asInt(), spec::toString);
        assertTrue(ns.ping(a.netns(), b.ip(), 3).allReceived(), "a's untagged frames in its native VLAN 10");
        assertEquals("trunk all", json("set-port", a.port(), "--untagged").path("vlanMode").asText());
        assertEquals("trunk all", json("set-port", b.port(), "--untagged").path("vlanMode").asText());

        // learning off: a's address is not learned; back on: it is
        r = json("set-port", a.port(), "--learning", "off");
        assertFalse(r.path("learning").asBoolean(), r::toString);
        assertFalse(port(a.port()).path("learning").asBoolean());
        cli("fdb", "flush");
        assertTrue(ns.ping(a.netns(), b.ip(), 3).allReceived());
        assertEquals(0, json("fdb", "show", "--port", a.port()).size(), "learning is off on " + a.port());
        assertTrue(json("fdb", "show", "--port", b.port()).size() > 0, "b still learns");
        assertTrue(json("set-port", a.port(), "--learning", "on").path("learning").asBoolean());
        assertTrue(ns.ping(a.netns(), b.ip(), 3).allReceived());
        assertTrue(macs(json("fdb", "show", "--port", a.port())).contains(a.mac()), "learned again");

        // flooding off and on again
        r = json("set-port", b.port(), "--flooding", "off");
        assertFalse(r.path("flooding").asBoolean(), r::toString);
        assertFalse(port(b.port()).path("flooding").asBoolean());
        assertTrue(json("set-port", b.port(), "--flooding", "on").path("flooding").asBoolean());

        // admin down: nothing passes; up: it does again. Human output says all four settings.
        ExecResult down = cli("set-port", b.port(), "--admin", "down");
        assertEquals("port " + b.port() + ": trunk all, learning on, flooding on, admin down", down.stdout().trim());
        assertEquals("down", port(b.port()).path("admin").asText());
        assertEquals(0, ns.ping(a.netns(), b.ip(), 3).received(), "b is administratively down");
        assertEquals("up", json("set-port", b.port(), "--admin", "up").path("admin").asText());
        assertTrue(ns.ping(a.netns(), b.ip(), 3).allReceived());
    }

    @Test
    void fdbAddDelAndFlushShowInFdbShow() {
        start();
        Host a = host("a", "198.18.2.1/24");
        Host b = host("b", "198.18.2.2/24");
        assertTrue(ns.ping(a.netns(), b.ip(), 2).allReceived());
        Set<String> learned = entries(json("fdb", "show"));
        assertTrue(learned.contains(a.mac() + " 0 " + a.port() + " learned"), learned::toString);
        assertTrue(learned.contains(b.mac() + " 0 " + b.port() + " learned"), learned::toString);

        JsonNode added = json("fdb", "add", "02:00:00:00:0a:01", "--port", a.port(), "--vlan", "10");
        assertEquals("02:00:00:00:0a:01", added.path("mac").asText());
        assertEquals(10, added.path("vlan").asInt());
        assertTrue(added.path("static").asBoolean());
        ExecResult human = cli("fdb", "add", "02:00:00:00:0A:02", "--port", b.port());
        assertEquals("static 02:00:00:00:0a:02 vlan 0 -> " + b.port(), human.stdout().trim());

        Set<String> all = entries(json("fdb", "show"));
        assertTrue(all.contains("02:00:00:00:0a:01 10 " + a.port() + " static"), all::toString);
        assertTrue(all.contains("02:00:00:00:0a:02 0 " + b.port() + " static"), all::toString);
        assertEquals(2, json("show").path("fdb").path("static").asInt());
        assertEquals(Set.of("02:00:00:00:0a:01 10 " + a.port() + " static"), entries(json("fdb", "show", "--vlan", "10")));
        for (JsonNode e : json("fdb", "show", "--port", a.port())) {
            assertEquals(a.port(), e.path("port").asText(), e::toString);
        }
        assertTrue(cli("fdb", "show").stdout().lines()
                .anyMatch(l -> l.matches("02:00:00:00:0a:01\\s+10\\s+" + Pattern.quote(a.port()) + "\\s+-\\s+static\\s+-")));

        // flush of one port: its learned entry goes, the other port's and every static one stay
        JsonNode flushed = json("fdb", "flush", "--port", b.port());
        assertEquals(1, flushed.path("flushed").asInt(), flushed::toString);
        Set<String> afterPort = entries(json("fdb", "show"));
        // (b itself may already have been learned again: its kernel re-validates a's ARP entry at any moment)
        assertTrue(afterPort.contains(a.mac() + " 0 " + a.port() + " learned"), afterPort::toString);
        assertTrue(afterPort.contains("02:00:00:00:0a:02 0 " + b.port() + " static"), afterPort::toString);
        assertTrue(cli("fdb", "flush").stdout().trim().matches("flushed [1-9]\\d* entries"));
        // a host may send again right after the flush (ARP) and be learned again: static entries are what must stay
        assertEquals(Set.of("02:00:00:00:0a:01 10 " + a.port() + " static", "02:00:00:00:0a:02 0 " + b.port() + " static"),
                statics(json("fdb", "show")));

        JsonNode del = json("fdb", "del", "02:00:00:00:0a:01", "--vlan", "10");
        assertEquals("02:00:00:00:0a:01", del.path("removed").asText());
        assertEquals(Set.of("02:00:00:00:0a:02 0 " + b.port() + " static"), statics(json("fdb", "show")));
        ExecResult again = cliFails(1, "fdb", "del", "02:00:00:00:0a:01", "--vlan", "10");
        assertTrue(again.stderr().contains("no FDB entry for 02:00:00:00:0a:01 in VLAN 10"), again::describe);
        assertEquals(1, json("show").path("fdb").path("static").asInt());
    }

    @Test
    void setAgeingAndSetLimitsShowInTheFdbSectionOfShow() {
        start();
        assertEquals(42, json("set-ageing", "42").path("ageingSeconds").asInt());
        JsonNode fdb = json("show").path("fdb");
        assertEquals(42, fdb.path("ageingSeconds").asInt(), fdb::toString);
        assertTrue(cli("show").stdout().contains("ageing 42 s"));
        assertEquals("ageing time 7 s", cli("set-ageing", "7").stdout().trim());

        JsonNode limits = json("set-limits", "--max-entries", "1000", "--max-per-port", "10");
        assertEquals(1000, limits.path("maxEntries").asInt());
        assertEquals(10, limits.path("maxPerPort").asInt());
        assertEquals("fdb limits: 1000 in all, 20 per port", cli("set-limits", "--max-per-port", "20").stdout().trim());
        fdb = json("show").path("fdb");
        assertEquals(7, fdb.path("ageingSeconds").asInt(), fdb::toString);
        assertEquals(1000, fdb.path("maxEntries").asInt(), fdb::toString);
        assertEquals(20, fdb.path("maxPerPort").asInt(), fdb::toString);

        ExecResult zero = cliFails(1, "set-ageing", "0");
        assertTrue(zero.stderr().contains("1-1000000"), zero::describe);
        assertEquals(7, json("show").path("fdb").path("ageingSeconds").asInt(), "a refused change changes nothing");
    }

    @Test
    void flowsAndPerQueueStatsAfterTrafficOnATwoQueuePort() {
        start();
        Host a = host("a", "198.18.3.1/24", "--queues", "2");
        Host b = host("b", "198.18.3.2/24");
        BackgroundProcess ping = ns.startBackground(a.netns(), "ping", "-n", "-c", "150", "-i", "0.1", b.ip());
        try {
            List<JsonNode> flows = new ArrayList<>();
            await(Duration.ofSeconds(15), () -> {
                flows.clear();
                json("flows", "--port", a.port()).forEach(flows::add);
                return !flows.isEmpty();
            }, () -> "no flows on " + a.port() + "; ping: " + ping.output());
            for (JsonNode f : flows) {
                assertEquals(a.port(), f.path("port").asText(), f::toString);
                assertTrue(f.path("hash").asText().matches("[0-9a-f]{8}"), f::toString);
                int q = f.path("queue").asInt(-1);
                assertTrue(q == 0 || q == 1, f::toString);
                assertTrue(f.path("ageMillis").asLong(-1) >= 0 && f.path("ageMillis").asLong() <= 3000, f::toString);
            }
            Set<String> ports = new HashSet<>();
            json("flows").forEach(f -> ports.add(f.path("port").asText()));
            assertEquals(Set.of(a.port(), b.port()), ports, "the echo replies are flows of b's port");
            assertTrue(cli("flows").stdout().startsWith("PORT"));
            // The CLI answers faster than the ping's 0.1 s interval: let at least 10 echoes through.
            await(Duration.ofSeconds(15), () -> totalRx(byPort(json("stats"), a.port())) >= 10,
                    () -> "10 echo requests on " + a.port() + "; ping: " + ping.output());
        } finally {
            ping.stop();
        }

        JsonNode stats = json("stats");
        assertEquals(2, stats.size(), stats::toString);
        JsonNode sa = byPort(stats, a.port());
        assertEquals(2, sa.path("queues").size(), sa::toString);
        for (int q = 0; q < 2; q++) {
            JsonNode row = sa.path("queues").get(q);
            assertEquals(q, row.path("queue").asInt());
            assertTrue(row.path("drops").isObject(), row::toString);
        }
        assertTrue(totalRx(sa) >= 10, "echo requests received on " + a.port() + ": " + sa);
        assertEquals(1, byPort(stats, b.port()).path("queues").size());
        assertTrue(byPort(stats, b.port()).path("queues").get(0).path("txPackets").asLong() >= 10);

        JsonNode one = json("stats", a.port());
        assertEquals(1, one.size());
        assertEquals(a.port(), one.get(0).path("port").asText());
        List<String> rows = cli("stats").stdout().lines().toList();
        assertTrue(rows.get(0).startsWith("PORT") && rows.get(0).contains("RX-PKTS") && rows.get(0).contains("RX-NOBUF"),
                rows::toString);
        assertEquals(4, rows.size(), "header and one row per queue (2 + 1): " + rows);
    }

    @Test
    void statsWatchWithCountPrintsThatManyTimesAndExits() {
        start();
        Host a = host("a", "198.18.4.1/24");
        ExecResult human = cli("stats", "--watch", "--count", "2", "--interval", "0.2");
        String screen = "\u001b[H\u001b[2J";
        assertEquals(2, human.stdout().split(Pattern.quote(screen), -1).length - 1, human::describe);
        assertEquals(2, human.stdout().lines().filter(l -> l.contains("PORT")).count(), human::describe);
        assertTrue(human.stdout().contains("RX-PPS"), "the second refresh shows rates: " + human.stdout());

        ExecResult json = cli("stats", "--watch", "--count", "2", "--interval", "0.2", "--json");
        List<JsonNode> docs = jsonDocs(json.stdout());
        assertEquals(2, docs.size(), json::describe);
        for (JsonNode d : docs) {
            assertEquals(a.port(), d.get(0).path("port").asText(), d::toString);
        }
    }

    @Test
    void helpVersionAndCompletionScript() throws Exception {
        ExecResult version = vswitch("--version");
        assertTrue(version.ok() && version.stdout().contains("vswitch 0.1.0"), version::describe);
        ExecResult help = vswitch("set-port", "--help");
        assertTrue(help.ok() && help.stdout().contains("--learning=on|off"), help::describe);

        ExecResult completion = vswitch("generate-completion");
        assertTrue(completion.ok(), completion::describe);
        assertTrue(completion.stdout().contains("complete -F _complete_vswitch"), completion::describe);
        Path script = tempDir("completion").resolve("vswitch_completion");
        Files.writeString(script, completion.stdout());
        ExecResult syntax = Exec.run("bash", "-n", script.toString());
        assertTrue(syntax.ok(), syntax::describe);
        ExecResult complete = Exec.run("bash", "-c", "source " + script
                + "; COMP_WORDS=(vswitch fdb ''); COMP_CWORD=2; COMP_LINE='vswitch fdb '; COMP_POINT=${#COMP_LINE};"
                + " _complete_vswitch vswitch '' fdb 2>/dev/null; echo \"${COMPREPLY[*]}\"");
        assertEquals(Set.of("show", "add", "del", "flush"), Set.of(complete.stdout().trim().split("\\s+")), complete::describe);
    }

    /** Frames received on all queues of one port's {@code stats} row. */
    private static long totalRx(JsonNode portStats) {
        long rx = 0;
        for (JsonNode q : portStats.path("queues")) {
            rx += q.path("rxPackets").asLong();
        }
        return rx;
    }

    private static JsonNode byPort(JsonNode stats, String port) {
        for (JsonNode p : stats) {
            if (p.path("port").asText().equals(port)) {
                return p;
            }
        }
        throw new AssertionError(port + " not in " + stats);
    }

    private static Set<String> macs(JsonNode fdb) {
        Set<String> out = new HashSet<>();
        fdb.forEach(e -> out.add(e.path("mac").asText()));
        return out;
    }

    /** "mac vlan port static|learned" for each entry. */
    private static Set<String> entries(JsonNode fdb) {
        Set<String> out = new HashSet<>();
        fdb.forEach(e -> out.add(e.path("mac").asText() + " " + e.path("vlan").asInt() + " " + e.path("port").asText() + " "
                + (e.path("static").asBoolean() ? "static" : "learned")));
        return out;
    }

    private static Set<String> statics(JsonNode fdb) {
        Set<String> out = entries(fdb);
        out.removeIf(e -> !e.endsWith(" static"));
        return out;
    }
}
