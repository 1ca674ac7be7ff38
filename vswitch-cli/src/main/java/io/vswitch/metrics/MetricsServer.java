package io.vswitch.metrics;

import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vswitch.core.fdb.Fdb;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.function.Supplier;

/**
 * The switch's metrics on {@code GET /metrics} (Prometheus exposition formats, by the Prometheus
 * Java client; see {@link SwitchCollector} for what is exported). Any other path is 404. Meant for
 * loopback: binding elsewhere is refused.
 */
public final class MetricsServer implements AutoCloseable {
    private final HTTPServer server;
    private final InetSocketAddress address;

    /** @param ports the ports to describe, called at each scrape */
    public MetricsServer(InetSocketAddress address, Fdb fdb, Supplier<List<PortMetrics>> ports) throws IOException {
        if (!address.getAddress().isLoopbackAddress()) {
            throw new IOException("metrics address " + address + " is not a loopback address: use 127.0.0.1:PORT or [::1]:PORT");
        }
        PrometheusRegistry registry = new PrometheusRegistry();
        registry.register(new SwitchCollector(fdb, ports));
        server = HTTPServer.builder()
                .inetAddress(address.getAddress())
                .port(address.getPort())
                .registry(registry)
                .metricsHandlerPath("/metrics")
                .registerHealthHandler(false)
                .defaultHandler(exchange -> {
                    exchange.sendResponseHeaders(404, -1);
                    exchange.close();
                })
                .buildAndStart();
        this.address = new InetSocketAddress(address.getAddress(), server.getPort());
    }

    /** Parses {@code HOST:PORT} ({@code [::1]:PORT} for IPv6). */
    public static InetSocketAddress parseAddress(String text) {
        int colon = text.lastIndexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException("metrics address '" + text + "' must be HOST:PORT, e.g. 127.0.0.1:9477");
        }
        String host = text.substring(0, colon).replace("[", "").replace("]", "");
        try {
            return new InetSocketAddress(InetAddress.getByName(host), Integer.parseInt(text.substring(colon + 1)));
        } catch (IOException | NumberFormatException e) {
            throw new IllegalArgumentException("metrics address '" + text + "' must be HOST:PORT, e.g. 127.0.0.1:9477");
        }
    }

    public InetSocketAddress address() {
        return address;
    }

    @Override
    public void close() {
        server.close();
    }
}
