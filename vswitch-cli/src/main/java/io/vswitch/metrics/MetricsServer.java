package io.vswitch.metrics;

import com.sun.net.httpserver.HttpServer;
import io.vswitch.core.bridge.Bridge;
import io.vswitch.core.bridge.BridgePort;
import io.vswitch.core.fdb.Fdb;
import io.vswitch.core.frame.DropReason;
import io.vswitch.core.port.PortCounters;
import io.vswitch.core.port.QueueCounters;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

/**
 * Counters in the Prometheus text exposition format on {@code GET /metrics}. It only reads the
 * counters the datapath threads publish (opaque/atomic longs); it never locks or touches their hot
 * state. Meant for loopback: binding elsewhere is refused.
 */
public final class MetricsServer implements AutoCloseable {
    private final HttpServer server;
    private final Bridge bridge;

    public MetricsServer(InetSocketAddress address, Bridge bridge) throws IOException {
        if (!address.getAddress().isLoopbackAddress()) {
            throw new IOException("metrics address " + address + " is not a loopback address: use 127.0.0.1:PORT or [::1]:PORT");
        }
        this.bridge = bridge;
        this.server = HttpServer.create(address, 8);
        server.createContext("/metrics", exchange -> {
            byte[] body = render().getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        });
        server.start();
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
        return server.getAddress();
    }

    String render() {
        StringBuilder out = new StringBuilder(4096);
        BridgePort[] ports = bridge.ports();
        family(out, "vswitch_port_rx_packets_total", "counter", "Frames received on a port queue.");
        each(out, ports, "vswitch_port_rx_packets_total", Stat.RX_PACKETS);
        family(out, "vswitch_port_rx_bytes_total", "counter", "Bytes received on a port queue.");
        each(out, ports, "vswitch_port_rx_bytes_total", Stat.RX_BYTES);
        family(out, "vswitch_port_tx_packets_total", "counter", "Frames transmitted on a port queue.");
        each(out, ports, "vswitch_port_tx_packets_total", Stat.TX_PACKETS);
        family(out, "vswitch_port_tx_bytes_total", "counter", "Bytes transmitted on a port queue.");
        each(out, ports, "vswitch_port_tx_bytes_total", Stat.TX_BYTES);
        family(out, "vswitch_port_rx_gso_frames_total", "counter", "GSO super-frames received on a port queue.");
        each(out, ports, "vswitch_port_rx_gso_frames_total", Stat.RX_GSO);
        family(out, "vswitch_port_drops_total", "counter", "Frames dropped, by reason.");
        for (BridgePort p : ports) {
            PortCounters c = p.counters();
            for (int q = 0; q < c.queueCount(); q++) {
                QueueCounters qc = c.queue(q);
                for (DropReason r : DropReason.values()) {
                    long n = qc.drops(r);
                    if (n != 0) {
                        out.append("vswitch_port_drops_total{port=\"").append(p.name()).append("\",queue=\"").append(q)
                                .append("\",reason=\"").append(r.label()).append("\"} ").append(n).append('\n');
                    }
                }
            }
        }
        family(out, "vswitch_port_up", "gauge", "1 if the port is administratively up and its link exists.");
        for (BridgePort p : ports) {
            out.append("vswitch_port_up{port=\"").append(p.name()).append("\"} ").append(p.forwarding() ? 1 : 0).append('\n');
        }
        Fdb fdb = bridge.fdb();
        family(out, "vswitch_fdb_entries", "gauge", "Learned FDB entries.");
        out.append("vswitch_fdb_entries ").append(fdb.learnedCount()).append('\n');
        family(out, "vswitch_fdb_moves_total", "counter", "MAC addresses that moved between ports.");
        out.append("vswitch_fdb_moves_total ").append(fdb.moves()).append('\n');
        family(out, "vswitch_fdb_refused_total", "counter", "Addresses not learned because a limit was reached.");
        out.append("vswitch_fdb_refused_total{limit=\"global\"} ").append(fdb.refusedGlobalLimit()).append('\n');
        out.append("vswitch_fdb_refused_total{limit=\"port\"} ").append(fdb.refusedPortLimit()).append('\n');
        return out.toString();
    }

    private enum Stat { RX_PACKETS, RX_BYTES, TX_PACKETS, TX_BYTES, RX_GSO }

    private static void each(StringBuilder out, BridgePort[] ports, String name, Stat stat) {
        for (BridgePort p : ports) {
            PortCounters c = p.counters();
            for (int q = 0; q < c.queueCount(); q++) {
                QueueCounters qc = c.queue(q);
                long v = switch (stat) {
                    case RX_PACKETS -> qc.rxPackets();
                    case RX_BYTES -> qc.rxBytes();
                    case TX_PACKETS -> qc.txPackets();
                    case TX_BYTES -> qc.txBytes();
                    case RX_GSO -> qc.rxGso();
                };
                out.append(name).append("{port=\"").append(p.name()).append("\",queue=\"").append(q).append("\"} ")
                        .append(v).append('\n');
            }
        }
    }

    private static void family(StringBuilder out, String name, String type, String help) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(' ').append(type).append('\n');
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
