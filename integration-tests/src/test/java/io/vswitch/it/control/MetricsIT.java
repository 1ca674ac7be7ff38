package io.vswitch.it.control;

import io.vswitch.it.harness.SwitchTestBase;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

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

/** {@code --metrics 127.0.0.1:PORT}: Prometheus counters on GET /metrics that follow the traffic. */
class MetricsIT extends SwitchTestBase {
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @Test
    void portCountersGrowWithTraffic() throws Exception {
        int port = freePort();
        start(SwitchProcess.builder().args("--metrics", "127.0.0.1:" + port));
        Host a = host("a", "198.18.9.1/24", "--queues", "2");
        Host b = host("b", "198.18.9.2/24");

        HttpResponse<String> first = get(port);
        assertEquals(200, first.statusCode());
        assertTrue(first.headers().firstValue("Content-Type").orElse("").startsWith("text/plain; version=0.0.4"), () -> first.headers().toString());
        String text = first.body();
        assertTrue(text.contains("# TYPE vswitch_port_rx_packets_total counter"), text);
        assertTrue(text.contains("vswitch_port_rx_packets_total{port=\"" + a.port() + "\",queue=\"1\"}"), "a row per queue: " + text);
        assertTrue(text.contains("vswitch_port_up{port=\"" + b.port() + "\"} 1"), text);
        long rxA = sum(text, "vswitch_port_rx_packets_total", a.port());
        long txB = sum(text, "vswitch_port_tx_packets_total", b.port());

        assertTrue(ns.ping(a.netns(), b.ip(), 10, 0.05).allReceived());
        String after = get(port).body();
        assertTrue(sum(after, "vswitch_port_rx_packets_total", a.port()) >= rxA + 10, after);
        assertTrue(sum(after, "vswitch_port_tx_packets_total", b.port()) >= txB + 10, after);
        assertTrue(sum(after, "vswitch_port_rx_bytes_total", a.port()) >= 10 * 98, after);
        Matcher fdb = Pattern.compile("^vswitch_fdb_entries (\\d+)$", Pattern.MULTILINE).matcher(after);
        assertTrue(fdb.find() && Integer.parseInt(fdb.group(1)) >= 2, "a and b learned: " + after);

        cli("set-port", b.port(), "--admin", "down");
        assertTrue(get(port).body().contains("vswitch_port_up{port=\"" + b.port() + "\"} 0"));
        assertEquals(404, http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/other")).build(),
                HttpResponse.BodyHandlers.ofString()).statusCode());
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
        Matcher m = Pattern.compile("^" + name + "\\{port=\"" + Pattern.quote(port) + "\",queue=\"\\d+\"} (\\d+)$", Pattern.MULTILINE)
                .matcher(text);
        long total = 0;
        int rows = 0;
        while (m.find()) {
            total += Long.parseLong(m.group(1));
            rows++;
        }
        assertTrue(rows > 0, "no " + name + " for " + port + " in:\n" + text);
        return total;
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
