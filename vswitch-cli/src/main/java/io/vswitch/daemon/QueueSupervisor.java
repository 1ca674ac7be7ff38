package io.vswitch.daemon;

import io.vswitch.core.bridge.Bridge;
import io.vswitch.core.bridge.BridgePort;
import io.vswitch.linux.ErrnoException;
import io.vswitch.linux.PollableQueue;
import java.time.Duration;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One datapath thread and the {@link QueueSet} it serves, over the set's life: starts the thread,
 * notices when it died on an exception (counted and shown by {@code show} on every port it served),
 * and starts a new one on the same queues after a back-off that doubles with each death in a row
 * (1 s, 2 s, 4 s, ... by default); after {@link Policy#maxDeathsInARow()} deaths without
 * {@link #HEALTHY_NANOS} of running in between it gives up and its queues stay failed until their
 * ports are removed and added again. In the default mode it supervises one queue's thread; with
 * {@code --datapath-threads N} each pool thread has one, and queues are added to and removed from
 * its set while it runs.
 *
 * <p>Only the daemon's lock holder touches it (control commands and housekeeping). The replaced
 * thread is provably finished ({@link Thread#isAlive()} returned false) before its successor takes
 * over the set, so each queue keeps one receiving thread at a time.
 */
final class QueueSupervisor {
    private static final Logger LOG = LoggerFactory.getLogger(QueueSupervisor.class);
    /** Running this long resets the deaths-in-a-row count. */
    static final long HEALTHY_NANOS = 60_000_000_000L;

    /**
     * How long to wait for a stopping thread, how to back off restarts, when to give up, and how long
     * a busy queue's thread polls before it sleeps ({@link DatapathThread}; zero: never).
     */
    record Policy(Duration stopWait, Duration firstBackoff, int maxDeathsInARow, Duration busyPoll) {
        static final Policy DEFAULT = new Policy(Duration.ofSeconds(30), Duration.ofSeconds(1), 5, Duration.ZERO);

        Policy(Duration stopWait, Duration firstBackoff, int maxDeathsInARow) {
            this(stopWait, firstBackoff, maxDeathsInARow, Duration.ZERO);
        }

        Policy withBusyPoll(Duration busyPoll) {
            return new Policy(stopWait, firstBackoff, maxDeathsInARow, busyPoll);
        }
    }

    /** What the queue's thread is doing, as {@code show} says it; later constants are worse. */
    enum State {
        /** Receiving. */
        RUNNING,
        /** The queue's port is gone (a deleted TAP); the queue is no longer polled and the port shows link down. */
        ENDED,
        /** Died on an exception; a new thread starts after the back-off. */
        RESTARTING,
        /** Died too often in a row; not restarted. */
        FAILED;

        String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    private final String name;
    private final Bridge bridge;
    private final QueueSet queues;
    private final Quiescence quiescence;
    private final Policy policy;
    private DatapathThread thread;
    private long startedAt;
    private long restartAt;
    private int deathsInARow;
    private long deaths;
    private long restarts;
    private boolean gaveUp;
    private boolean stopped;
    private String lastFailure;

    /** Creates the thread {@code name} (not started) and its empty queue set. */
    QueueSupervisor(String name, Bridge bridge, Quiescence quiescence, Policy policy) throws ErrnoException {
        this.name = name;
        this.bridge = bridge;
        this.queues = new QueueSet();
        this.quiescence = quiescence;
        this.policy = policy;
        this.thread = new DatapathThread(name, bridge, queues, quiescence, policy.busyPoll());
    }

    void start() {
        startedAt = System.nanoTime();
        thread.start();
    }

    /** The thread's name: {@code dp-PORT-qN} for a queue's own thread, {@code dp-N} for a pool thread. */
    String name() {
        return name;
    }

    /** Serves {@code queue} of {@code port} on this thread (running or not); see {@link QueueSet#add}. */
    QueueSet.Slot add(BridgePort port, PollableQueue queue) throws ErrnoException {
        return queues.add(port, queue);
    }

    /**
     * Stops serving a queue; its port may be closed only after a {@link Quiescence} grace period
     * (see {@link QueueSet}).
     */
    void remove(QueueSet.Slot slot) {
        queues.remove(slot);
    }

    /** How many queues the thread serves. */
    int load() {
        return queues.size();
    }

    /**
     * Housekeeping: counts a death that happened since the last call and restarts the thread once
     * its back-off has passed.
     */
    void check(long now) {
        noticeDeath(now);
        if (thread != null || gaveUp || stopped || now - restartAt < 0) {
            return;
        }
        thread = new DatapathThread(name, bridge, queues, quiescence, policy.busyPoll());
        restarts++;
        LOG.warn("restarting datapath thread {} (restart {}, after {} deaths in a row)", name, restarts, deathsInARow);
        start();
    }

    private void noticeDeath(long now) {
        if (thread == null || thread.isAlive() || thread.failure() == null) {
            return;
        }
        lastFailure = thread.failure().toString();
        thread = null;
        deaths++;
        if (now - startedAt >= HEALTHY_NANOS) {
            deathsInARow = 0;
        }
        deathsInARow++;
        if (deathsInARow >= policy.maxDeathsInARow()) {
            gaveUp = true;
            LOG.error("datapath thread {} died {} in a row ({}); not restarting it: the queues it served ({}) receive"
                    + " nothing until their ports are removed and added again", name,
                    deathsInARow == 1 ? "once" : deathsInARow + " times", lastFailure, queues.size());
            return;
        }
        scheduleRestart(now);
    }

    private void scheduleRestart(long now) {
        long backoff = policy.firstBackoff().toNanos() << Math.min(Math.max(deathsInARow - 1, 0), 10);
        restartAt = now + backoff;
        LOG.warn("datapath thread {} will be restarted in {} ms", name, backoff / 1_000_000);
    }

    /**
     * Stops the current thread (if any), waits for it and frees the queue set; false when the thread
     * would not stop within the policy's wait, in which case nothing it uses may be freed (see
     * {@link DatapathThread#shutdown}).
     */
    boolean stop() {
        stopped = true;
        DatapathThread t = thread;
        if (t != null && !t.shutdown(policy.stopWait())) {
            return false;
        }
        queues.close();
        return true;
    }

    /** The thread's state: {@link State#RUNNING}, {@link State#RESTARTING} or {@link State#FAILED}. */
    State state(long now) {
        noticeDeath(now);
        if (thread != null) {
            return State.RUNNING;
        }
        return gaveUp ? State.FAILED : State.RESTARTING;
    }

    long deaths() {
        return deaths;
    }

    long restarts() {
        return restarts;
    }

    /** The exception that killed the last thread to die, or null. */
    String lastFailure() {
        return lastFailure;
    }
}
