package io.vswitch.it.control;

import io.vswitch.it.harness.SwitchTestBase;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.vswitch.it.harness.Requirements;
import io.vswitch.it.harness.SwitchProcess;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * {@code --metrics 127.0.0.1:PORT}: Prometheus metrics on GET /metrics that follow the traffic, in an
 * exposition {@code promtool check metrics} accepts, with label values spelled as the CLI's.
 */
class MetricsIT extends SwitchTestBase {
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @Test
    void portCountersGrowWithTraffic() throws Exception {
        Requirements.check("promtool");
        int port = freePort();
        start(SwitchProcess.builder().args("--metrics", "127.0.0.1:" + port));
        Host a = host("a", "198.18.9.1/24", "--queues", "2");
        Host b = host("b", "198.18.9.2/24");

        HttpResponse<String> first = get(port);
        assertEquals(200, first.statusCode());
        assertTrue(first.headers().firstValue("Content-Type").orElse("").startsWith("text/plain; version=0.0.4"), () -> first.headers().toString());
        String text = first.body();
        promtoolAccepts(text);
        assertTrue(text.contains("# TYPE vswitch_port_rx_packets_total counter"), text);
        assertTrue(text.contains("vswitch_port_rx_packets_total{port=\"" + a.port() + "\",queue=\"1\"}"), "a row per queue: " + text);
        assertEquals(1, value(text, "vswitch_port_up{port=\"" + b.port() + "\"}"), text);
        long rxA = sum(text, "vswitch_port_rx_packets_total", a.port());
        long txB = sum(text, "vswitch_port_tx_packets_total", b.port());
        long wakeupsA = sum(text, "vswitch_datapath_wakeup_frames_count", a.port());

        assertTrue(ns.ping(a.netns(), b.ip(), 10, 0.05).allReceived());
        String after = get(port).body();
        promtoolAccepts(after);
        assertTrue(sum(after, "vswitch_port_rx_packets_total", a.port()) >= rxA + 10, after);
        assertTrue(sum(after, "vswitch_port_tx_packets_total", b.port()) >= txB + 10, after);
        assertTrue(sum(after, "vswitch_port_rx_bytes_total", a.port()) >= 10 * 98, after);
        assertTrue(value(after, "vswitch_fdb_entries") >= 2, "a and b learned: " + after);
        assertTrue(value(after, "vswitch_port_fdb_entries{port=\"" + a.port() + "\"}") >= 1, after);
        assertEquals(0, value(after, "vswitch_port_link_losses_total{port=\"" + a.port() + "\"}"), after);
        // each echo request woke one of a's queues at least once, and every frame is in some wake-up
        assertTrue(sum(after, "vswitch_datapath_wakeup_frames_count", a.port()) >= wakeupsA + 10, after);
        assertTrue(sum(after, "vswitch_datapath_wakeup_frames_sum", a.port()) >= sum(after, "vswitch_port_rx_packets_total", a.port()),
                after);

        cli("set-port", b.port(), "--admin", "down");
        assertEquals(0, value(get(port).body(), "vswitch_port_up{port=\"" + b.port() + "\"}"));
        assertEquals(404, http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/other")).build(),
                HttpResponse.BodyHandlers.ofString()).statusCode());
    }

    @Test
    void dropReasonsAreSpelledAsTheCliSpellsThem() throws Exception {
        int port = freePort();
        start(SwitchProcess.builder().args("--metrics", "127.0.0.1:" + port));
        Host a = host("a", "198.18.9.1/24");
        // alone on the switch, a's broadcasts have nowhere to go: counted as no-output
        ns.arping(a.netns(), a.port(), "198.18.9.99", 3);
        JsonNode drops = json("stats", a.port()).get(0).path("queues").get(0).path("drops");
        long cli = drops.path("no-output").asLong();
        assertTrue(cli >= 3, drops::toString);
        String text = get(port).body();
        assertTrue(value(text, "vswitch_port_drops_total{port=\"" + a.port() + "\",queue=\"0\",reason=\"no-output\"}") >= cli, text);
        assertFalse(text.contains("no_output"), text);
    }

    @Test
    void onlyLoopbackAddressesAreAccepted() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> start(SwitchProcess.builder().args("--metrics", "198.18.9.9:" + freePort())));
        assertTrue(e.getMessage().contains("is not a loopback address: use 127.0.0.1:PORT"), e::getMessage);
    }

    private HttpResponse<String> get(int port) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    }

    /** The sum over queues of name{port="port",queue=...}. */
    private static long sum(String text, String name, String port) {
        Matcher m = Pattern.compile("^" + name + "\\{port=\"" + Pattern.quote(port) + "\",queue=\"\\d+\"} (\\S+)$", Pattern.MULTILINE)
                .matcher(text);
        long total = 0;
        int rows = 0;
        while (m.find()) {
            total += (long) Double.parseDouble(m.group(1));
            rows++;
        }
        assertTrue(rows > 0, "no " + name + " for " + port + " in:\n" + text);
        return total;
    }

    /** The value of the one sample written exactly as {@code series} (name and labels). */
    private static long value(String text, String series) {
        Matcher m = Pattern.compile("^" + Pattern.quote(series) + " (\\S+)$", Pattern.MULTILINE).matcher(text);
        assertTrue(m.find(), "no " + series + " in:\n" + text);
        return (long) Double.parseDouble(m.group(1));
    }

    /** Prometheus's own linter (promtool, Debian package prometheus) accepts the exposition. */
    private static void promtoolAccepts(String text) throws Exception {
        Process p = new ProcessBuilder("promtool", "check", "metrics").redirectErrorStream(true).start();
        try (var in = p.getOutputStream()) {
            in.write(text.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS), "promtool hangs");
        assertEquals(0, p.exitValue(), () -> "promtool check metrics: " + out + "\n" + text);
    }

    /** A port nothing listens on right now (bound and released: --metrics has no ephemeral port). */
    private static int freePort() {
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            return s.getLocalPort();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
