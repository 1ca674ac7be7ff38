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
 * spec, attaching it to the bridge, giving each of its queues to a {@link DatapathThread} (each under
 * a {@link QueueSupervisor} that restarts it if it dies), and the reverse. By default every queue gets
 * a thread of its own; with {@code --datapath-threads N} the registry runs N pool threads from its
 * start to its {@link #close()}, and each queue goes, when its port is added, to the pool thread
 * serving the fewest queues (ties: the lowest index), and leaves it when the port is removed.
 * Owns every port it created and closes it on removal. Not thread-safe: the daemon calls it under
 * its own lock.
 */
final class PortRegistry implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PortRegistry.class);
    /** The most pool threads {@code --datapath-threads} accepts. */
    static final int MAX_DATAPATH_THREADS = 64;

    private final Bridge bridge;
    private final PortOpener opener;
    private final QueueSupervisor.Policy policy;
    private final Quiescence quiescence = new Quiescence();
    private final Map<String, Entry> entries = new LinkedHashMap<>();
    /** The pool threads, {@code dp-0} first; empty when every queue has a thread of its own. */
    private final List<QueueSupervisor> pool = new ArrayList<>();

    /** One queue of a port and the thread serving it. */
    record ServedQueue(QueueSupervisor thread, QueueSet.Slot slot) {
        QueueSupervisor.State state(long now) {
            return slot.ended ? QueueSupervisor.State.ENDED : thread.state(now);
        }
    }

    /** A running port: its spec, its bridge port and queues, and how often its link went away. */
    static final class Entry {
        final BridgePort bridgePort;
        /** Each queue of the port, by index, with the thread serving it. */
        final List<ServedQueue> queues = new ArrayList<>();
        /** The threads of this port's own queues; empty in pool mode. */
        final List<QueueSupervisor> ownThreads = new ArrayList<>();
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

        /** The worst state among the port's queues and the threads serving them. */
        QueueSupervisor.State datapathState() {
            long now = System.nanoTime();
            QueueSupervisor.State worst = QueueSupervisor.State.RUNNING;
            for (ServedQueue q : queues) {
                QueueSupervisor.State s = q.state(now);
                if (s.compareTo(worst) > 0) {
                    worst = s;
                }
            }
            return worst;
        }

        private List<QueueSupervisor> threads() {
            return queues.stream().map(ServedQueue::thread).distinct().toList();
        }

        /** Deaths on an exception of the datapath threads serving this port (a pool thread's count for each of its ports). */
        long threadDeaths() {
            return threads().stream().mapToLong(QueueSupervisor::deaths).sum();
        }

        long threadRestarts() {
            return threads().stream().mapToLong(QueueSupervisor::restarts).sum();
        }

        /** What killed a thread serving this port last, or null. */
        String lastThreadFailure() {
            String last = null;
            for (int q = 0; q < queues.size(); q++) {
                QueueSupervisor thread = queues.get(q).thread();
                if (thread.lastFailure() != null) {
                    last = "queue " + q + " (" + thread.name() + "): " + thread.lastFailure();
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

    /**
     * @param datapathThreads 0: a thread per queue; 1 to {@value #MAX_DATAPATH_THREADS}: a pool of that
     *     many threads, started now
     */
    PortRegistry(Bridge bridge, PortFactory factory, Duration busyPoll, int datapathThreads) throws ErrnoException {
        this(bridge, factory::create, QueueSupervisor.Policy.DEFAULT.withBusyPoll(busyPoll), datapathThreads);
    }

    /** A registry giving each queue a thread of its own. */
    PortRegistry(Bridge bridge, PortOpener opener, QueueSupervisor.Policy policy) {
        this.bridge = bridge;
        this.opener = opener;
        this.policy = policy;
    }

    /** A registry with a pool of {@code datapathThreads} threads (0: a thread per queue). */
    PortRegistry(Bridge bridge, PortOpener opener, QueueSupervisor.Policy policy, int datapathThreads)
            throws ErrnoException {
        this(bridge, opener, policy);
        if (datapathThreads < 0 || datapathThreads > MAX_DATAPATH_THREADS) {
            throw new IllegalArgumentException("datapath threads: " + datapathThreads + " is not 0 to "
                    + MAX_DATAPATH_THREADS);
        }
        try {
            for (int i = 0; i < datapathThreads; i++) {
                pool.add(new QueueSupervisor("dp-" + i, bridge, quiescence, policy));
            }
        } catch (ErrnoException e) {
            pool.forEach(QueueSupervisor::stop);
            throw e;
        }
        pool.forEach(QueueSupervisor::start);
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
                QueueSupervisor thread;
                if (pool.isEmpty()) {
                    thread = new QueueSupervisor("dp-" + spec.name() + "-q" + q, bridge, quiescence, policy);
                    entry.ownThreads.add(thread);
                } else {
                    thread = leastLoaded();
                }
                entry.queues.add(new ServedQueue(thread, thread.add(bridgePort, (PollableQueue) port.queue(q))));
            }
        } catch (ErrnoException e) {
            stop(entry);
            throw e;
        }
        entries.put(spec.name(), entry);
        entry.ownThreads.forEach(QueueSupervisor::start);
        LOG.info("port {} added: {} queues={} {} threads={}", spec.name(), spec.type(), port.queueCount(),
                bridgePort.vlans(), entry.queues.stream().map(q -> q.thread().name()).toList());
        return entry;
    }

    /**
     * The pool thread serving the fewest queues, the lowest index among equals; a thread that was given
     * up on (died too often in a row) only when every thread was, since it would never serve the queue.
     */
    private QueueSupervisor leastLoaded() {
        long now = System.nanoTime();
        QueueSupervisor best = null;
        for (QueueSupervisor t : pool) {
            boolean failed = t.state(now) == QueueSupervisor.State.FAILED;
            boolean bestFailed = best != null && best.state(now) == QueueSupervisor.State.FAILED;
            if (best == null || (bestFailed && !failed) || (failed == bestFailed && t.load() < best.load())) {
                best = t;
            }
        }
        return best;
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
     * Removal in the kernel's order ({@code del_nbp}): the port's queues stop being read first (its own
     * threads stop, or it leaves its pool threads' sets), so nothing more is learned on it; it is
     * detached from the bridge (no new lookup finds it); then a grace period lets every datapath
     * thread finish the loop turn that may have found it before (a pool thread's turn that may still
     * be draining one of its queues included), and only then are its fds closed. If one of its own
     * threads would not stop, the port is detached but left open (leaked, and logged): that thread may
     * still use it. Closing earlier would let a flooding thread write a frame to an fd number the
     * kernel has meanwhile handed to the next {@code open} (the configuration's temp file, a new TAP).
     * A pool thread is not stopped (it serves other ports): if it were stuck inside a read of the
     * removed queue, the grace period would wait for it, warning every 5 s, rather than close under it.
     */
    private void stop(Entry entry) {
        boolean stopped = true;
        for (QueueSupervisor thread : entry.ownThreads) {
            stopped &= thread.stop();
        }
        if (entry.ownThreads.isEmpty()) {
            entry.queues.forEach(q -> q.thread().remove(q.slot()));
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
        pool.forEach(t -> t.check(now));
        for (Entry entry : entries.values()) {
            entry.ownThreads.forEach(t -> t.check(now));
        }
    }

    /** The pool threads, {@code dp-0} first; empty when each queue has a thread of its own. */
    List<QueueSupervisor> pool() {
        return List.copyOf(pool);
    }

    /**
     * Removes every port, then stops (joins) the pool threads. A port whose removal fails does not stop
     * the others from being removed; the failures are thrown together at the end.
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
        for (QueueSupervisor thread : pool) {
            if (!thread.stop()) {
                if (failed == null) {
                    failed = new IllegalStateException("datapath thread " + thread.name() + " would not stop");
                }
            }
        }
        if (failed != null) {
            throw failed;
        }
    }
}
