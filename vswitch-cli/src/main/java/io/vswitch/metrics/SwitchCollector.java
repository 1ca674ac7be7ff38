package io.vswitch.metrics;

import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.ClassicHistogramBuckets;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot.GaugeDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot.HistogramDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import io.vswitch.core.bridge.BridgePort;
import io.vswitch.core.fdb.Fdb;
import io.vswitch.core.frame.DropReason;
import io.vswitch.core.port.QueueCounters;
import io.vswitch.vm.vhost.VhostUserPort;
import java.util.List;
import java.util.function.Supplier;
import java.util.function.ToLongFunction;

/**
 * The switch's metrics, built at scrape time from what the datapath already publishes (the per-queue
 * lock-free counters, the FDB's counters, each thread's {@link WakeupHistogram}): the datapath pays
 * nothing for being scraped. Label values are spelled as the CLI spells them (drop reasons as
 * {@link DropReason#label()}, e.g. {@code no-output}).
 */
final class SwitchCollector implements MultiCollector {
    private final Fdb fdb;
    private final Supplier<List<PortMetrics>> ports;

    SwitchCollector(Fdb fdb, Supplier<List<PortMetrics>> ports) {
        this.fdb = fdb;
        this.ports = ports;
    }

    @Override
    public MetricSnapshots collect() {
        List<PortMetrics> all = ports.get();
        MetricSnapshots.Builder out = MetricSnapshots.builder();
        out.metricSnapshot(perQueue(all, "vswitch_port_rx_packets", "Frames received on a port queue.", QueueCounters::rxPackets));
        out.metricSnapshot(perQueue(all, "vswitch_port_rx_bytes", "Bytes received on a port queue.", QueueCounters::rxBytes));
        out.metricSnapshot(perQueue(all, "vswitch_port_tx_packets", "Frames transmitted on a port queue.", QueueCounters::txPackets));
        out.metricSnapshot(perQueue(all, "vswitch_port_tx_bytes", "Bytes transmitted on a port queue.", QueueCounters::txBytes));
        out.metricSnapshot(perQueue(all, "vswitch_port_rx_gso_frames", "GSO super-frames received on a port queue.", QueueCounters::rxGso));
        out.metricSnapshot(perQueue(all, "vswitch_port_tx_segmented", "GSO super-frames cut into segments in software for a port queue.",
                QueueCounters::txSegmented));
        out.metricSnapshot(perQueue(all, "vswitch_port_rx_no_buffer",
                "Receives refused because the queue's buffers were at their cap (the frame waited in the kernel's queue).",
                QueueCounters::rxNoBuffer));
        out.metricSnapshot(drops(all));
        out.metricSnapshot(portGauges(all));
        out.metricSnapshot(learnedPerPort(all));
        out.metricSnapshot(linkLosses(all));
        out.metricSnapshot(wakeups(all));
        out.metricSnapshot(vhostNotifications(all));
        out.metricSnapshot(GaugeSnapshot.builder().name("vswitch_fdb_entries").help("Learned FDB entries.")
                .dataPoint(gauge(fdb.learnedCount(), Labels.EMPTY)).build());
        out.metricSnapshot(GaugeSnapshot.builder().name("vswitch_fdb_static_entries").help("Static FDB entries.")
                .dataPoint(gauge(fdb.staticCount(), Labels.EMPTY)).build());
        out.metricSnapshot(GaugeSnapshot.builder().name("vswitch_fdb_max_entries").help("The FDB's limit of learned entries.")
                .dataPoint(gauge(fdb.maxEntries(), Labels.EMPTY)).build());
        out.metricSnapshot(GaugeSnapshot.builder().name("vswitch_fdb_max_per_port").help("The FDB's limit of learned entries per port.")
                .dataPoint(gauge(fdb.maxPerPort(), Labels.EMPTY)).build());
        out.metricSnapshot(CounterSnapshot.builder().name("vswitch_fdb_moves").help("MAC addresses that moved between ports.")
                .dataPoint(counter(fdb.moves(), Labels.EMPTY)).build());
        out.metricSnapshot(CounterSnapshot.builder().name("vswitch_fdb_aged_out").help("Learned entries removed by ageing.")
                .dataPoint(counter(fdb.agedOut(), Labels.EMPTY)).build());
        out.metricSnapshot(CounterSnapshot.builder().name("vswitch_fdb_refused")
                .help("Addresses not learned because a limit was reached.")
                .dataPoint(counter(fdb.refusedGlobalLimit(), Labels.of("limit", "global")))
                .dataPoint(counter(fdb.refusedPortLimit(), Labels.of("limit", "port"))).build());
        return out.build();
    }

    private static CounterSnapshot perQueue(List<PortMetrics> all, String name, String help, ToLongFunction<QueueCounters> value) {
        CounterSnapshot.Builder b = CounterSnapshot.builder().name(name).help(help);
        for (PortMetrics p : all) {
            for (int q = 0; q < p.port().counters().queueCount(); q++) {
                b.dataPoint(counter(value.applyAsLong(p.port().counters().queue(q)), queueLabels(p.port(), q)));
            }
        }
        return b.build();
    }

    /** Only reasons that happened, as the CLI lists them. */
    private static CounterSnapshot drops(List<PortMetrics> all) {
        CounterSnapshot.Builder b = CounterSnapshot.builder().name("vswitch_port_drops").help("Frames dropped, by reason.");
        for (PortMetrics p : all) {
            for (int q = 0; q < p.port().counters().queueCount(); q++) {
                QueueCounters qc = p.port().counters().queue(q);
                for (DropReason r : DropReason.values()) {
                    long n = qc.drops(r);
                    if (n != 0) {
                        b.dataPoint(counter(n, Labels.of("port", p.port().name(), "queue", Integer.toString(q), "reason", r.label())));
                    }
                }
            }
        }
        return b.build();
    }

    private static GaugeSnapshot portGauges(List<PortMetrics> all) {
        GaugeSnapshot.Builder b = GaugeSnapshot.builder().name("vswitch_port_up")
                .help("1 if the port is administratively up and its link exists.");
        for (PortMetrics p : all) {
            b.dataPoint(gauge(p.port().forwarding() ? 1 : 0, Labels.of("port", p.port().name())));
        }
        return b.build();
    }

    private GaugeSnapshot learnedPerPort(List<PortMetrics> all) {
        GaugeSnapshot.Builder b = GaugeSnapshot.builder().name("vswitch_port_fdb_entries")
                .help("Learned FDB entries behind a port (its limit is vswitch_fdb_max_per_port).");
        for (PortMetrics p : all) {
            b.dataPoint(gauge(fdb.learnedOnPort(p.port().index()), Labels.of("port", p.port().name())));
        }
        return b.build();
    }

    private static CounterSnapshot linkLosses(List<PortMetrics> all) {
        CounterSnapshot.Builder b = CounterSnapshot.builder().name("vswitch_port_link_losses")
                .help("Times a port's link went away (TAP deleted, VM disconnected).");
        for (PortMetrics p : all) {
            b.dataPoint(counter(p.linkLosses(), Labels.of("port", p.port().name())));
        }
        return b.build();
    }

    private static HistogramSnapshot wakeups(List<PortMetrics> all) {
        HistogramSnapshot.Builder b = HistogramSnapshot.builder().name("vswitch_datapath_wakeup_frames")
                .help("Frames a port queue's datapath thread handled per wake-up.");
        for (PortMetrics p : all) {
            for (int q = 0; q < p.wakeups().size(); q++) {
                WakeupHistogram h = p.wakeups().get(q);
                b.dataPoint(HistogramDataPointSnapshot.builder()
                        .classicHistogramBuckets(ClassicHistogramBuckets.of(WakeupHistogram.UPPER_BOUNDS, h.counts()))
                        .sum(h.frames())
                        .labels(queueLabels(p.port(), q))
                        .build());
            }
        }
        return b.build();
    }

    /** Per vhost-user queue pair: the guest's interrupts for its RX ring (frames in) and TX ring (buffers back). */
    private static CounterSnapshot vhostNotifications(List<PortMetrics> all) {
        CounterSnapshot.Builder b = CounterSnapshot.builder().name("vswitch_vhost_guest_notifications")
                .help("Interrupts (call eventfd writes) a vhost-user port sent its guest, per queue pair and ring:"
                        + " rx for frames delivered to the guest, tx for the buffers of its sent frames given back.");
        for (PortMetrics p : all) {
            if (p.port().port() instanceof VhostUserPort vhost) {
                for (int q = 0; q < vhost.queueCount(); q++) {
                    String queue = Integer.toString(q);
                    b.dataPoint(counter(vhost.guestRxNotifications(q), Labels.of("port", vhost.name(), "queue", queue, "ring", "rx")));
                    b.dataPoint(counter(vhost.guestTxNotifications(q), Labels.of("port", vhost.name(), "queue", queue, "ring", "tx")));
                }
            }
        }
        return b.build();
    }

    private static Labels queueLabels(BridgePort port, int queue) {
        return Labels.of("port", port.name(), "queue", Integer.toString(queue));
    }

    private static CounterDataPointSnapshot counter(long value, Labels labels) {
        return CounterDataPointSnapshot.builder().value(value).labels(labels).build();
    }

    private static GaugeDataPointSnapshot gauge(long value, Labels labels) {
        return GaugeDataPointSnapshot.builder().value(value).labels(labels).build();
    }
}
