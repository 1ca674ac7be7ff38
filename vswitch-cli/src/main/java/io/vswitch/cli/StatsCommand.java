package io.vswitch.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vswitch.control.ControlException;
import java.util.HashMap;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code vswitch stats}: per-port, per-queue counters; {@code --watch} refreshes in place with rates. */
@Command(name = "stats", mixinStandardHelpOptions = true, description = "Per-port and per-queue counters and drops by reason.")
final class StatsCommand extends ClientCommand {
    @Parameters(paramLabel = "PORT", arity = "0..1")
    String port;

    @Option(names = "--watch", description = "Refresh in place every interval, with rates per second.")
    boolean watch;

    @Option(names = "--interval", paramLabel = "SECONDS", defaultValue = "1", description = "Refresh interval for --watch (default ${DEFAULT-VALUE}).")
    double interval;

    @Option(names = "--count", paramLabel = "N", description = "With --watch: stop after N refreshes.")
    Integer count;

    @Override
    int run() throws ControlException {
        ObjectNode args = ClientOptions.args();
        if (port != null) {
            args.put("port", port);
        }
        if (!watch) {
            JsonNode result = client.call("stats", args);
            return client.print(result, () -> System.out.print(render(result, null, 0)));
        }
        Map<String, long[]> previous = new HashMap<>();
        long last = 0;
        for (int i = 0; count == null || i < count; i++) {
            JsonNode result = client.call("stats", args);
            long now = System.nanoTime();
            if (client.json) {
                client.print(result, () -> { });
            } else {
                System.out.print("\033[H\033[2J" + render(result, previous, last == 0 ? 0 : (now - last) / 1e9));
                System.out.flush();
            }
            last = now;
            try {
                Thread.sleep((long) (interval * 1000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return 0;
            }
        }
        return 0;
    }

    private static String render(JsonNode result, Map<String, long[]> previous, double seconds) {
        Table t = seconds > 0
                ? new Table("PORT", "Q", "RX-PKTS", "RX-BYTES", "TX-PKTS", "TX-BYTES", "RX-PPS", "TX-PPS", "RX-MBIT/S", "TX-MBIT/S", "DROPS")
                : new Table("PORT", "Q", "RX-PKTS", "RX-BYTES", "TX-PKTS", "TX-BYTES", "RX-GSO", "TX-SEGMENTED", "RX-NOBUF", "DROPS");
        for (JsonNode p : result) {
            for (JsonNode q : p.path("queues")) {
                String key = p.path("port").asText() + "/" + q.path("queue").asInt();
                long[] now = {q.path("rxPackets").asLong(), q.path("rxBytes").asLong(), q.path("txPackets").asLong(), q.path("txBytes").asLong()};
                StringBuilder drops = new StringBuilder();
                q.path("drops").fields().forEachRemaining(e -> drops.append(drops.length() == 0 ? "" : ",")
                        .append(e.getKey()).append('=').append(e.getValue().asLong()));
                String dropText = drops.length() == 0 ? "-" : drops.toString();
                if (seconds > 0) {
                    long[] before = previous.getOrDefault(key, now);
                    t.row(p.path("port").asText(), q.path("queue").asInt(), now[0], now[1], now[2], now[3],
                            Math.round((now[0] - before[0]) / seconds), Math.round((now[2] - before[2]) / seconds),
                            String.format("%.1f", (now[1] - before[1]) * 8 / seconds / 1e6),
                            String.format("%.1f", (now[3] - before[3]) * 8 / seconds / 1e6), dropText);
                } else {
                    t.row(p.path("port").asText(), q.path("queue").asInt(), now[0], now[1], now[2], now[3],
                            q.path("rxGsoFrames").asLong(), q.path("txSegmented").asLong(), q.path("rxNoBuffer").asLong(),
                            dropText);
                }
                if (previous != null) {
                    previous.put(key, now);
                }
            }
        }
        return t.toString();
    }
}
