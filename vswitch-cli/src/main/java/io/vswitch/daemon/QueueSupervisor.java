package io.vswitch.daemon;

import io.vswitch.core.bridge.Bridge;
import io.vswitch.core.bridge.BridgePort;
import io.vswitch.linux.ErrnoException;
import io.vswitch.linux.PollableQueue;
import io.vswitch.metrics.WakeupHistogram;
import java.time.Duration;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One queue's datapath thread over the port's life: starts it, notices when it died on an exception
 * (counted and shown by {@code show}), and starts a new one after a back-off that doubles with each
 * death in a row (1 s, 2 s, 4 s, ... by default); after {@link Policy#maxDeathsInARow()} deaths
 * without {@link #HEALTHY_NANOS} of running in between it gives up and the queue stays failed
 * until the port is removed and added again.
 *
 * <p>Only the daemon's lock holder touches it (control commands and housekeeping). The replaced
 * thread is provably finished ({@link Thread#isAlive()} returned false) before its successor takes
 * over the queue's receive side, so the queue keeps one receiving thread at a time.
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
        /** Ended because its port is gone (a deleted TAP); the port shows link down. */
        ENDED,
        /** Died on an exception; a new thread starts after the back-off. */
        RESTARTING,
        /** Died too often in a row; not restarted. */
        FAILED;

        String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    private final Bridge bridge;
    private final BridgePort port;
    private final PollableQueue queue;
    private final Quiescence quiescence;
    private final Policy policy;
    /**
     * Frames per wake-up of this queue, kept across restarts: a thread is replaced only after it
     * died, so there is one writer at a time, and {@code Thread.start} publishes the counts so far.
     */
    final WakeupHistogram wakeups = new WakeupHistogram();
    private DatapathThread thread;
    private long startedAt;
    private long restartAt;
    private int deathsInARow;
    private long deaths;
    private long restarts;
    private boolean gaveUp;
    private boolean stopped;
    private String lastFailure;

    /** Creates the queue's first thread (not started). */
    QueueSupervisor(Bridge bridge, BridgePort port, PollableQueue queue, Quiescence quiescence, Policy policy)
            throws ErrnoException {
        this.bridge = bridge;
        this.port = port;
        this.queue = queue;
        this.quiescence = quiescence;
        this.policy = policy;
        this.thread = new DatapathThread(bridge, port, queue, quiescence, wakeups, policy.busyPoll());
    }

    void start() {
        startedAt = System.nanoTime();
        thread.start();
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
        try {
            thread = new DatapathThread(bridge, port, queue, quiescence, wakeups, policy.busyPoll());
        } catch (ErrnoException e) {
            LOG.error("cannot restart the datapath thread of {} queue {}: {}", port.name(), queue.index(), e.getMessage());
            scheduleRestart(now);
            return;
        }
        restarts++;
        LOG.warn("restarting the datapath thread of {} queue {} (restart {}, after {} deaths in a row)", port.name(),
                queue.index(), restarts, deathsInARow);
        start();
    }

    private void noticeDeath(long now) {
        if (thread == null || thread.isAlive() || thread.failure() == null) {
            return;
        }
        lastFailure = thread.failure().toString();
        thread.release();
        thread = null;
        deaths++;
        if (now - startedAt >= HEALTHY_NANOS) {
            deathsInARow = 0;
        }
        deathsInARow++;
        if (deathsInARow >= policy.maxDeathsInARow()) {
            gaveUp = true;
            LOG.error("the datapath thread of {} queue {} died {} times in a row ({}); not restarting it: the queue"
                    + " receives nothing until the port is removed and added again", port.name(), queue.index(),
                    deathsInARow, lastFailure);
            return;
        }
        scheduleRestart(now);
    }

    private void scheduleRestart(long now) {
        long backoff = policy.firstBackoff().toNanos() << Math.min(Math.max(deathsInARow - 1, 0), 10);
        restartAt = now + backoff;
        LOG.warn("the datapath thread of {} queue {} will be restarted in {} ms", port.name(), queue.index(),
                backoff / 1_000_000);
    }

    /**
     * Stops the current thread (if any) and waits for it; false when it would not stop within the
     * policy's wait, in which case nothing it uses may be freed (see {@link DatapathThread#shutdown}).
     */
    boolean stop() {
        stopped = true;
        DatapathThread t = thread;
        if (t == null) {
            return true;
        }
        if (!t.isAlive() && t.failure() != null) {
            t.release();
            thread = null;
            return true;
        }
        return t.shutdown(policy.stopWait());
    }

    State state(long now) {
        noticeDeath(now);
        if (thread != null) {
            return thread.isAlive() || thread.getState() == Thread.State.NEW ? State.RUNNING : State.ENDED;
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
