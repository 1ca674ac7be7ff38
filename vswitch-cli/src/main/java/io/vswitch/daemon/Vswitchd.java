package io.vswitch.daemon;

import io.vswitch.control.ControlException;
import io.vswitch.control.ControlServer;
import io.vswitch.control.Protocol;
import io.vswitch.core.bridge.Bridge;
import io.vswitch.core.bridge.BridgePort;
import io.vswitch.core.fdb.Fdb;
import io.vswitch.core.frame.FrameLeaks;
import io.vswitch.vxlan.VxlanPort;
import io.vswitch.metrics.MetricsServer;
import io.vswitch.metrics.PortMetrics;
import io.vswitch.metrics.WakeupHistogram;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The running switch: the bridge, its ports and datapath threads, the configuration file kept in
 * step with every change, housekeeping (FDB ageing, flow expiry) and the control socket. Control
 * operations are serialized by one lock; datapath threads never take it.
 */
public final class Vswitchd implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Vswitchd.class);
    public static final String READY = "vswitchd ready";
    /**
     * A control connection that sends nothing (or does not read its replies) this long is closed;
     * {@code -Dvswitch.control.idleSeconds=N} changes it (the tests use a short one).
     */
    static final Duration CONTROL_IDLE = Duration.ofSeconds(Long.getLong("vswitch.control.idleSeconds", 60));

    private final Object lock = new Object();
    private final InstanceLock instanceLock;
    private final Bridge bridge;
    private final PortRegistry registry;
    private final ConfigStore store;
    private final ScheduledExecutorService housekeeping;
    private SwitchConfig config;
    private ControlServer control;
    private MetricsServer metrics;
    private final AtomicBoolean closed = new AtomicBoolean();

    /**
     * Settings of one daemon instance; {@code busyPoll} is {@link DatapathThread}'s budget (zero: off);
     * {@code datapathThreads} the size of the datapath thread pool (zero: a thread per queue).
     */
    public record Options(Path socket, Path stateDir, Path configFile, List<PortSpec> ports, int controlGid,
            InetSocketAddress metrics, Duration busyPoll, int datapathThreads) {
    }

    /** The most datapath threads a pool may have. */
    public static final int MAX_DATAPATH_THREADS = PortRegistry.MAX_DATAPATH_THREADS;

    private Vswitchd(Options options, InstanceLock instanceLock) throws IOException {
        this.instanceLock = instanceLock;
        this.store = new ConfigStore(options.configFile(), Protocol.JSON);
        this.config = store.load();
        this.bridge = new Bridge(new Fdb(config.maxEntries(), config.maxPerPort(), Bridge.MAX_PORTS));
        bridge.fdb().setAgeingNanos(TimeUnit.SECONDS.toNanos(config.ageing()));
        this.registry = new PortRegistry(bridge, new PortFactory(options.stateDir()), options.busyPoll(),
                options.datapathThreads());
        this.housekeeping = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "housekeeping");
            t.setDaemon(true);
            return t;
        });
    }

    /** Starts a daemon: restores the stored configuration, adds {@code options.ports()}, opens the control socket. */
    public static Vswitchd start(Options options) throws IOException {
        // First of all: a refused second daemon must not have touched the ports, socket or configuration.
        InstanceLock instanceLock = InstanceLock.acquire(options.stateDir(), options.configFile());
        Vswitchd d;
        try {
            d = new Vswitchd(options, instanceLock);
        } catch (IOException | RuntimeException e) {
            instanceLock.close();
            throw e;
        }
        try {
            d.restore(options.ports());
            d.control = new ControlServer(options.socket(), options.controlGid(), CONTROL_IDLE, new ControlCommands(d));
            if (options.metrics() != null) {
                d.metrics = new MetricsServer(options.metrics(), d.bridge.fdb(), d::portMetrics);
            }
        } catch (IOException | RuntimeException e) {
            try {
                d.close();
            } catch (RuntimeException closeFailure) {
                e.addSuppressed(closeFailure);
            }
            throw e;
        }
        d.housekeeping.scheduleAtFixedRate(d::houseKeep, 1, 1, TimeUnit.SECONDS);
        LOG.info("{}: {} ports, control socket {}, configuration {}", READY, d.registry.all().size(),
                options.socket(), d.store.file());
        return d;
    }

    private void restore(List<PortSpec> extra) throws IOException {
        synchronized (lock) {
            List<PortSpec> ports = new ArrayList<>(config.ports());
            for (PortSpec spec : extra) {
                ports.removeIf(p -> p.name().equals(spec.name()));
                ports.add(spec);
            }
            for (PortSpec spec : ports) {
                try {
                    registry.add(spec);
                } catch (IOException | RuntimeException e) {
                    LOG.error("port {} could not be restored: {}", spec.name(), e.getMessage());
                    if (extra.contains(spec)) {
                        throw new IOException("port " + spec.name() + ": " + e.getMessage(), e);
                    }
                }
            }
            for (SwitchConfig.StaticEntry entry : config.staticFdb()) {
                applyStaticEntry(entry);
            }
            config = config.withPorts(ports);
            store.save(config);
        }
    }

    /** Puts the configured static FDB entries of port {@code name} back (after set-port reopened it). */
    void applyStaticEntries(String name) {
        for (SwitchConfig.StaticEntry entry : config.staticFdb()) {
            if (entry.port().equals(name)) {
                applyStaticEntry(entry);
            }
        }
    }

    /** @throws IllegalArgumentException if the entry pins a VTEP its vxlan port does not have */
    private void applyStaticEntry(SwitchConfig.StaticEntry entry) {
        PortRegistry.Entry port = registry.get(entry.port());
        if (port != null) {
            long mac = Macs.parse(entry.mac());
            if (entry.remote() != null && port.bridgePort.port() instanceof VxlanPort vxlan) {
                vxlan.addStatic(mac, entry.remote());
            }
            bridge.fdb().addStatic(entry.vlan(), mac, port.bridgePort.index());
        }
    }

    private void houseKeep() {
        try {
            long now = System.nanoTime();
            int aged = bridge.fdb().age(now);
            if (aged > 0) {
                LOG.debug("aged out {} FDB entries", aged);
            }
            for (BridgePort port : bridge.ports()) {
                port.flows().expire(now);
                if (port.port() instanceof VxlanPort vxlan) {
                    vxlan.age(now, bridge.fdb().ageingNanos());
                }
            }
            synchronized (lock) {
                registry.watchLinks();
                registry.superviseThreads();
            }
        } catch (RuntimeException e) {
            LOG.error("housekeeping failed", e);
        }
    }

    /** What the metrics read of each port; called by the metrics server at each scrape. */
    private List<PortMetrics> portMetrics() {
        synchronized (lock) {
            List<PortMetrics> out = new ArrayList<>();
            for (PortRegistry.Entry e : registry.all()) {
                List<WakeupHistogram> wakeups = e.queues.stream().map(q -> q.slot().wakeups).toList();
                out.add(new PortMetrics(e.bridgePort, e.linkLosses.get(), wakeups));
            }
            return out;
        }
    }

    Bridge bridge() {
        return bridge;
    }

    PortRegistry registry() {
        return registry;
    }

    Object lock() {
        return lock;
    }

    SwitchConfig config() {
        return config;
    }

    /** Replaces and persists the configuration; called under {@link #lock()}. */
    void commit(SwitchConfig next) throws ControlException {
        try {
            store.save(next);
            config = next;
        } catch (IOException e) {
            throw new ControlException(ControlException.FAILED, "the change is live but could not be saved to "
                    + store.file() + ": " + e.getMessage());
        }
    }

    /**
     * Stops everything: control socket, metrics, housekeeping, datapath threads; closes ports (removing
     * TAPs we created); gives up the state directory. Idempotent.
     *
     * <p>Every step runs even if an earlier one failed, so one failure (say a class missing because the
     * jar was replaced under the running daemon) neither leaves ports open nor keeps the state
     * directory claimed. Failures are logged as they happen and thrown together at the end, so the
     * caller can exit with a non-zero status. Only JDK classes and classes loaded at start are used on
     * the failure path, since a missing class is one of the failures it must survive.
     *
     * @throws IllegalStateException if any step failed, with each failure as a suppressed exception
     */
    @Override
    public void close() {
        if (closed.getAndSet(true)) {
            return;
        }
        List<Throwable> failures = new ArrayList<>();
        if (control != null) {
            step("closing the control socket", control::close, failures);
        }
        if (metrics != null) {
            step("closing the metrics server", metrics::close, failures);
        }
        step("stopping housekeeping", housekeeping::shutdownNow, failures);
        step("closing the ports", this::closePorts, failures);
        step("checking for frame leaks", Vswitchd::reportLeaks, failures);
        step("releasing the state directory and configuration locks", () -> {
            try {
                instanceLock.close();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }, failures);
        if (!failures.isEmpty()) {
            IllegalStateException failed = new IllegalStateException("vswitchd shutdown failed in " + failures.size()
                    + " step(s); every other step ran; first failure: " + failures.get(0));
            failures.forEach(failed::addSuppressed);
            throw failed;
        }
        LOG.info("vswitchd stopped");
    }

    private void closePorts() {
        synchronized (lock) {
            for (PortRegistry.Entry entry : registry.all()) {
                BridgePort p = entry.bridgePort;
                LOG.info("port {} final counters: rx {} pkts {} bytes, tx {} pkts {} bytes, drops {}", p.name(),
                        p.counters().rxPackets(), p.counters().rxBytes(), p.counters().txPackets(),
                        p.counters().txBytes(), p.counters().dropsByReason());
            }
            registry.close();
        }
    }

    private static void reportLeaks() {
        for (String leak : FrameLeaks.drainReport()) {
            LOG.error("LEAK: {}", leak); // only with -Dvswitch.leakDetection=true (tests)
        }
    }

    /** Runs one shutdown step; a failure of any kind (an Error too) is logged and added to {@code failures}. */
    private static void step(String name, Runnable action, List<Throwable> failures) {
        try {
            action.run();
        } catch (Throwable t) {
            failures.add(t);
            try {
                LOG.error("shutdown: {} failed; going on with the other steps", name, t);
            } catch (Throwable logging) {
                // The logger may need a class that is gone as well: say it plainly.
                System.err.println("vswitchd shutdown: " + name + " failed (" + t + "); going on with the other steps");
            }
        }
    }
}
