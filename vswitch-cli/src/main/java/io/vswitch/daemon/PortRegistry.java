package io.vswitch.daemon;

import io.vswitch.core.bridge.Bridge;
import io.vswitch.core.bridge.BridgePort;
import io.vswitch.core.port.Port;
import io.vswitch.core.vlan.VlanMembership;
import io.vswitch.linux.ErrnoException;
import io.vswitch.linux.PollableQueue;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The daemon's ports (the kernel's {@code br_if.c} for the running switch): creating a port from its
 * spec, attaching it to the bridge, starting one {@link DatapathThread} per queue (each under a
 * {@link QueueSupervisor} that restarts it if it dies), and the reverse.
 * Owns every port it created and closes it on removal. Not thread-safe: the daemon calls it under
 * its own lock.
 */
final class PortRegistry implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PortRegistry.class);

    private final Bridge bridge;
    private final PortOpener opener;
    private final QueueSupervisor.Policy policy;
    private final Quiescence quiescence = new Quiescence();
    private final Map<String, Entry> entries = new LinkedHashMap<>();

    /** A running port: its spec, its bridge port and threads, and how often its link went away. */
    static final class Entry {
        final BridgePort bridgePort;
        final List<QueueSupervisor> queues = new ArrayList<>();
        final AtomicLong linkLosses = new AtomicLong();
        PortSpec spec;
        /** Link state last seen by {@link #watchLinks()}. */
        boolean linkUp;
        /** The port's own {@link io.vswitch.core.port.Port#linkDowns()} last seen by {@link #watchLinks()}. */
        long linkDownsSeen;

        Entry(PortSpec spec, BridgePort bridgePort) {
            this.spec = spec;
            this.bridgePort = bridgePort;
            this.linkUp = bridgePort.port().linkUp();
            this.linkDownsSeen = bridgePort.port().linkDowns();
        }

        /** The worst state among the port's queue threads. */
        QueueSupervisor.State datapathState() {
            long now = System.nanoTime();
            QueueSupervisor.State worst = QueueSupervisor.State.RUNNING;
            for (QueueSupervisor q : queues) {
                QueueSupervisor.State s = q.state(now);
                if (s.compareTo(worst) > 0) {
                    worst = s;
                }
            }
            return worst;
        }

        /** Datapath threads of this port that died on an exception. */
        long threadDeaths() {
            return queues.stream().mapToLong(QueueSupervisor::deaths).sum();
        }

        long threadRestarts() {
            return queues.stream().mapToLong(QueueSupervisor::restarts).sum();
        }

        /** What killed a thread of this port last, or null. */
        String lastThreadFailure() {
            String last = null;
            for (QueueSupervisor q : queues) {
                if (q.lastFailure() != null) {
                    last = "queue " + queues.indexOf(q) + ": " + q.lastFailure();
                }
            }
            return last;
        }
    }

    /** Makes a port from its spec: {@link PortFactory#create} in the daemon. */
    @FunctionalInterface
    interface PortOpener {
        Port open(PortSpec spec) throws IOException;
    }

    PortRegistry(Bridge bridge, PortFactory factory, Duration busyPoll) {
        this(bridge, factory::create, QueueSupervisor.Policy.DEFAULT.withBusyPoll(busyPoll));
    }

    PortRegistry(Bridge bridge, PortOpener opener, QueueSupervisor.Policy policy) {
        this.bridge = bridge;
        this.opener = opener;
        this.policy = policy;
    }

    /** Creates, attaches and starts the port. On failure nothing of it is left behind. */
    Entry add(PortSpec spec) throws IOException {
        if (entries.containsKey(spec.name())) {
            throw new IllegalArgumentException("port " + spec.name() + " already exists: remove it first or use set-port");
        }
        Port port = opener.open(spec);
        BridgePort bridgePort;
        try {
            bridgePort = bridge.attach(port, membership(spec));
        } catch (RuntimeException e) {
            port.close();
            throw e;
        }
        Entry entry = new Entry(spec, bridgePort);
        applyFlags(entry);
        try {
            for (int q = 0; q < port.queueCount(); q++) {
                entry.queues.add(new QueueSupervisor(bridge, bridgePort, (PollableQueue) port.queue(q), quiescence,
                        policy));
            }
        } catch (ErrnoException e) {
            stop(entry);
            throw e;
        }
        entries.put(spec.name(), entry);
        entry.queues.forEach(QueueSupervisor::start);
        LOG.info("port {} added: {} queues={} {}", spec.name(), spec.type(), port.queueCount(), bridgePort.vlans());
        return entry;
    }

    /**
     * Stops the port's threads, detaches it, waits until no other datapath thread can still be
     * sending to it, closes it (see {@link #stop}).
     */
    boolean remove(String name) {
        Entry entry = entries.remove(name);
        if (entry == null) {
            return false;
        }
        stop(entry);
        LOG.info("port {} removed", name);
        return true;
    }

    /** Applies a changed spec of an existing port (VLANs, flags) without recreating it. */
    void update(PortSpec spec) {
        Entry entry = entries.get(spec.name());
        entry.spec = spec;
        entry.bridgePort.setVlans(membership(spec));
        applyFlags(entry);
        LOG.info("port {} updated: {} learning={} flooding={} admin={}", spec.name(), entry.bridgePort.vlans(),
                spec.learningOn(), spec.floodingOn(), spec.adminUpOn() ? "up" : "down");
    }

    Entry get(String name) {
        return entries.get(name);
    }

    List<Entry> all() {
        return List.copyOf(entries.values());
    }

    static VlanMembership membership(PortSpec spec) {
        if (spec.vlan() != null) {
            return VlanMembership.access(spec.vlan());
        }
        if (spec.trunk() != null) {
            return VlanMembership.trunk(spec.trunk(), spec.nativeVlan() == null ? 0 : spec.nativeVlan());
        }
        return VlanMembership.DEFAULT;
    }

    private static void applyFlags(Entry entry) {
        entry.bridgePort.setLearning(entry.spec.learningOn());
        entry.bridgePort.setFlooding(entry.spec.floodingOn());
        entry.bridgePort.setAdminUp(entry.spec.adminUpOn());
    }

    /**
     * Notices links that went away or came back (a TAP deleted from outside, a VM that disconnected or
     * reconnected): counts and logs each loss and forgets the addresses learned behind it, so their
     * frames flood to the remaining ports instead of vanishing. Called by housekeeping.
     */
    void watchLinks() {
        for (Entry entry : entries.values()) {
            Port port = entry.bridgePort.port();
            boolean up = port.linkUp();
            long downs = port.linkDowns();
            long missed = downs < 0 ? 0 : downs - entry.linkDownsSeen;
            if (up == entry.linkUp && missed == 0) {
                continue;
            }
            entry.linkUp = up;
            entry.linkDownsSeen = downs;
            if (up && missed == 0) {
                LOG.info("port {}: link up", entry.spec.name());
            } else {
                // A port that counts its own transitions reports flaps shorter than this poll too.
                long losses = downs < 0 ? 1 : missed;
                entry.linkLosses.addAndGet(losses);
                int flushed = bridge.fdb().flush(entry.bridgePort.index(), false);
                LOG.warn("port {}: link gone{}; {}, {} learned addresses flushed", entry.spec.name(),
                        losses > 1 ? " " + losses + " times" : "", up ? "it is back up" : "port is down", flushed);
            }
        }
    }

    /**
     * Removal in the kernel's order ({@code del_nbp}): the port's own threads stop first (so nothing
     * more is learned on it), it is detached from the bridge (no new lookup finds it), then a grace
     * period lets every other datapath thread finish the loop turn that may have found it before, and
     * only then are its fds closed. If one of its own threads would not stop, the port is detached
     * but left open (leaked, and logged): that thread may still use it. Closing earlier would let a flooding thread write a frame to an fd
     * number the kernel has meanwhile handed to the next {@code open} (the configuration's temp file,
     * a new TAP).
     */
    private void stop(Entry entry) {
        boolean stopped = true;
        for (QueueSupervisor queue : entry.queues) {
            stopped &= queue.stop();
        }
        bridge.detach(entry.bridgePort);
        if (!stopped) {
            LOG.error("port {} is removed but stays open: one of its datapath threads would not stop (see above)",
                    entry.spec.name());
            return;
        }
        quiescence.synchronize();
        entry.bridgePort.port().close();
    }

    /** Restarts datapath threads that died, once their back-off has passed. Called by housekeeping. */
    void superviseThreads() {
        long now = System.nanoTime();
        for (Entry entry : entries.values()) {
            entry.queues.forEach(q -> q.check(now));
        }
    }

    /**
     * Removes every port. A port whose removal fails does not stop the others from being removed; the
     * failures are thrown together at the end.
     *
     * @throws IllegalStateException if any port's removal failed, each failure suppressed in it
     */
    @Override
    public void close() {
        IllegalStateException failed = null;
        for (Entry entry : List.copyOf(entries.values())) {
            try {
                remove(entry.spec.name());
            } catch (Throwable t) {
                if (failed == null) {
                    failed = new IllegalStateException("port " + entry.spec.name() + " could not be removed: " + t);
                }
                failed.addSuppressed(t);
            }
        }
        if (failed != null) {
            throw failed;
        }
    }
}
