package io.vswitch.it.control;

import io.vswitch.it.harness.SwitchTestBase;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.vswitch.it.harness.BackgroundProcess;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Several clients at once, and broken ones: each client is served on its own, so a watcher, a
 * flood of requests, garbage, a half-sent line or an oversized one never holds up other clients
 * or the traffic through the switch.
 */
class ConcurrentClientsIT extends SwitchTestBase {

    @Test
    void statsWatchKeepsRunningWhileAnotherClientAddsAndRemovesPorts() throws Exception {
        start();
        Path dir = tempDir("watch");
        int count = 150;
        Process watch = startClient(dir, "watch", "--socket", sw.socket().toString(), "stats", "--watch", "--json",
                "--interval", "0.1", "--count", Integer.toString(count));
        onCleanup(() -> kill(watch));
        Path out = dir.resolve("watch.out");
        await(Duration.ofSeconds(30), () -> !jsonDocs(read(out)).isEmpty(), () -> "no output from stats --watch: " + read(dir.resolve("watch.err")));

        String extra = ns.linkName("x");
        cli("add-port", extra, "--type", "tap");
        int[] firstWith = {-1};
        await(Duration.ofSeconds(20), () -> {
            List<JsonNode> docs = jsonDocs(read(out));
            for (int i = 0; i < docs.size(); i++) {
                if (has(docs.get(i), extra)) {
                    firstWith[0] = i;
                    return true;
                }
            }
            return false;
        }, () -> "the watcher never saw " + extra + "; it is " + (watch.isAlive() ? "running" : "gone"));
        cli("del-port", extra);
        await(Duration.ofSeconds(20), () -> {
            List<JsonNode> docs = jsonDocs(read(out));
            return docs.size() > firstWith[0] + 1 && !has(docs.get(docs.size() - 1), extra);
        }, () -> "the watcher never saw " + extra + " go; it is " + (watch.isAlive() ? "running" : "gone"));

        assertTrue(watch.waitFor(60, TimeUnit.SECONDS), "stats --watch --count " + count + " did not end");
        assertEquals(0, watch.exitValue(), read(dir.resolve("watch.err")));
        assertEquals(count, jsonDocs(read(out)).size());
        assertEquals("", read(dir.resolve("watch.err")));
    }

    @Test
    void manyClientsAtOnceAreAllServed() throws Exception {
        start();
        int clients = 16;
        int requests = 25;
        List<String> extra = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            extra.add(ns.linkName("m" + i));
        }
        ExecutorService pool = Executors.newFixedThreadPool(clients + 1);
        try {
            List<Future<Integer>> readers = new ArrayList<>();
            for (int c = 0; c < clients; c++) {
                readers.add(pool.submit(() -> {
                    int ok = 0;
                    try (RawClient client = new RawClient(sw.socket())) {
                        for (int i = 0; i < requests; i++) {
                            JsonNode reply = client.request(i % 2 == 0 ? "show" : "stats", RawClient.args());
                            assertTrue(reply.path("ok").asBoolean(), reply::toString);
                            ok++;
                        }
                    }
                    return ok;
                }));
            }
            Future<Integer> writer = pool.submit(() -> {
                int ok = 0;
                try (RawClient client = new RawClient(sw.socket())) {
                    for (String name : extra) {
                        JsonNode reply = client.request("add-port", RawClient.args().put("name", name).put("type", "tap"));
                        assertTrue(reply.path("ok").asBoolean(), reply::toString);
                        ok++;
                    }
                    for (String name : extra.subList(0, 2)) {
                        JsonNode reply = client.request("del-port", RawClient.args().put("name", name));
                        assertTrue(reply.path("ok").asBoolean(), reply::toString);
                        ok++;
                    }
                }
                return ok;
            });
            for (Future<Integer> f : readers) {
                assertEquals(requests, f.get(120, TimeUnit.SECONDS));
            }
            assertEquals(6, writer.get(120, TimeUnit.SECONDS));
        } finally {
            pool.shutdownNow();
        }
        assertEquals(extra.subList(2, 4), portNames());
    }

    @Test
    void malformedClientsGetAnErrorWithoutDisturbingOtherClientsOrTraffic() throws Exception {
        start();
        Host a = host("a", "198.18.5.1/24");
        Host b = host("b", "198.18.5.2/24");
        BackgroundProcess ping = ns.startBackground(a.netns(), "ping", "-n", "-i", "0.1", "-c", "3000", b.ip());
        await(Duration.ofSeconds(10), () -> replies(ping.output()).size() >= 3, () -> "no ping replies: " + ping.output());

        try (RawClient halfLine = new RawClient(sw.socket());
             RawClient garbage = new RawClient(sw.socket())) {
            // a client that sent half a request and then nothing: it must not hold anyone up
            halfLine.send("{\"v\":1,\"cmd\":\"sh");

            garbage.send("this is not json\n");
            JsonNode r = garbage.readReply(Duration.ofSeconds(10));
            assertError(r, "BAD_REQUEST", "request is not JSON");
            garbage.send(new byte[] {0, (byte) 0xff, (byte) 0xfe, 7, '{', '\n'}, Duration.ofSeconds(5));
            assertError(garbage.readReply(Duration.ofSeconds(10)), "BAD_REQUEST", "not JSON");
            garbage.send("[1,2,3]\n");
            assertError(garbage.readReply(Duration.ofSeconds(10)), "BAD_REQUEST", "must be a JSON object with a \"cmd\" string");
            garbage.send("{\"v\":1,\"cmd\":\"self-destruct\"}\n");
            assertError(garbage.readReply(Duration.ofSeconds(10)), "UNKNOWN_COMMAND", "unknown command 'self-destruct'");
            garbage.send("{\"v\":2,\"cmd\":\"show\"}\n");
            assertError(garbage.readReply(Duration.ofSeconds(10)), "UNSUPPORTED_VERSION", "this daemon speaks 1");
            garbage.send("{\"v\":1,\"cmd\":\"add-port\",\"args\":{\"name\":\"x\",\"type\":\"tap\",\"colour\":\"red\"}}\n");
            assertError(garbage.readReply(Duration.ofSeconds(10)), "INVALID_ARGUMENT", "colour");
            // after all that the same connection still works
            JsonNode show = garbage.request("show", RawClient.args());
            assertTrue(show.path("ok").asBoolean(), show::toString);
            assertEquals(2, show.path("result").path("ports").size());

            // just under the limit is a request like any other
            String pad = "x".repeat(60_000);
            JsonNode big = garbage.request("show", RawClient.args().put("pad", pad));
            assertTrue(big.path("ok").asBoolean(), () -> big.toString().substring(0, 200));

            // over 64 KiB: refused, and that connection closed
            try (RawClient huge = new RawClient(sw.socket())) {
                byte[] line = new byte[100 * 1024];
                Arrays.fill(line, (byte) 'a');
                try {
                    huge.send(line, Duration.ofSeconds(10));
                } catch (IOException e) {
                    // the daemon may close before taking it all: its reply is still there to read
                }
                assertError(huge.readReply(Duration.ofSeconds(10)), "REQUEST_TOO_LARGE", "longer than 65536 bytes");
                assertTrue(huge.closedByPeer(Duration.ofSeconds(10)), "the daemon keeps a connection that sent an oversized line");
            }
            await(Duration.ofSeconds(5), () -> sw.output().contains("request over 65536 bytes refused"), sw::outputTail);

            // meanwhile the CLI works, the half-line client is still connected, traffic flows
            assertEquals(List.of(a.port(), b.port()), portNames());
            assertFalse(halfLine.closedByPeer(Duration.ofMillis(300)), "the daemon dropped a slow client");
            halfLine.send("ow\"}\n");
            JsonNode late = halfLine.readReply(Duration.ofSeconds(10));
            assertTrue(late.path("ok").asBoolean(), late::toString);
        }
        int before = replies(ping.output()).size();
        await(Duration.ofSeconds(10), () -> replies(ping.output()).size() >= before + 10, () -> "ping stopped: " + ping.output());
        ping.stop();
        TreeSet<Integer> seqs = replies(ping.output());
        assertTrue(ping.output().lines().noneMatch(l -> l.contains("Unreachable")), ping::output);
        assertEquals(seqs.last() - seqs.first() + 1, seqs.size(), "echo replies missing in " + seqs.first() + ".." + seqs.last()
                + ": " + missing(seqs));
        assertTrue(sw.isAlive());
    }

    private static boolean has(JsonNode stats, String port) {
        for (JsonNode p : stats) {
            if (p.path("port").asText().equals(port)) {
                return true;
            }
        }
        return false;
    }

    private static void assertError(JsonNode reply, String code, String messagePart) {
        assertFalse(reply.path("ok").asBoolean(true), reply::toString);
        assertEquals(1, reply.path("v").asInt(), reply::toString);
        assertEquals(code, reply.path("error").path("code").asText(), reply::toString);
        assertTrue(reply.path("error").path("message").asText().contains(messagePart), reply::toString);
    }

    private static final Pattern SEQ = Pattern.compile("bytes from .* icmp_seq=(\\d+)");

    private static TreeSet<Integer> replies(String pingOutput) {
        TreeSet<Integer> seqs = new TreeSet<>();
        Matcher m = SEQ.matcher(pingOutput);
        while (m.find()) {
            seqs.add(Integer.parseInt(m.group(1)));
        }
        return seqs;
    }

    private static List<Integer> missing(TreeSet<Integer> seqs) {
        List<Integer> out = new ArrayList<>();
        for (int s = seqs.first(); s <= seqs.last(); s++) {
            if (!seqs.contains(s)) {
                out.add(s);
            }
        }
        return out;
    }
}
