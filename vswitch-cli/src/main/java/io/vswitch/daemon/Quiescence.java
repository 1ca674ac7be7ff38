package io.vswitch.daemon;

import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Grace periods for the datapath threads: quiescent-state-based reclamation, as the kernel bridge
 * waits out RCU readers ({@code del_nbp} → {@code synchronize_net}) before a removed port's device
 * goes away.
 *
 * <p><b>Readers</b> are the datapath threads. Each registers one {@link Reader} and publishes, with
 * one volatile store and no lock, where it is in its loop: {@link Reader#busy()} when it wakes up,
 * {@link Reader#quiescent()} between batches, {@link Reader#idle()} before it blocks in
 * {@code epoll_wait}, {@link Reader#close()} when it ends. The rule readers keep: a port (or anything
 * reached through the {@code Bridge}) is looked up afresh in each loop turn and never remembered
 * past a quiescent point, so at a quiescent point, or while idle, a thread holds nothing it read
 * before.
 *
 * <p><b>The writer</b> (the control plane, under the daemon's lock) first unpublishes what it
 * retires (e.g. {@code Bridge.detach}), then calls {@link #synchronize()}, which returns once every
 * registered reader has been idle or passed a quiescent point since; only then may it free what it
 * retired (close a port's fds, free its buffers). A thread that still holds a stale port snapshot is
 * by definition inside a loop turn that began before the detach, so it is waited for, and every turn
 * that begins after the wait reads the new port set.
 *
 * <p><b>Why the races are benign.</b> A reader's state word has one writer, the reader itself; the
 * writer of a grace period only reads it. Both the unpublishing ({@code Bridge}'s volatile port
 * arrays) and the state word are volatile, so they are ordered in one total order: if
 * {@code synchronize} sees a state stored after its detach, the store came after the detach, and the
 * reader's next lookup (after the store in program order) sees the detached port set. Seeing an
 * older value only makes the writer wait longer. Readers registered after {@code synchronize} took
 * its snapshot look the port set up only after registering, so they never saw what was retired.
 * Each state word sits alone on its cache lines, so the per-turn store costs no false sharing.
 */
public final class Quiescence {
    private static final Logger LOG = LoggerFactory.getLogger(Quiescence.class);
    /** How long a grace period may take before each warning that names the slow threads. */
    static final long WARN_NANOS = TimeUnit.SECONDS.toNanos(5);

    private final CopyOnWriteArrayList<Reader> readers = new CopyOnWriteArrayList<>();

    /**
     * Registers the reader of a datapath thread about to start, in the idle state (a thread not yet
     * running holds nothing). Cold path.
     */
    public Reader register(String name) {
        Reader reader = new Reader(name, this);
        readers.add(reader);
        return reader;
    }

    /**
     * Waits until every reader registered now has been idle or passed a quiescent point; logs a
     * warning every {@value #WARN_NANOS} ns while one has not (and keeps waiting: freeing early is
     * the bug this class exists to prevent). Never called by a datapath thread, which would wait for
     * itself. Cold path.
     *
     * @return how many readers had to be waited for (were inside a loop turn when called)
     */
    public int synchronize() {
        Reader[] snapshot = readers.toArray(new Reader[0]);
        long[] seen = new long[snapshot.length];
        int pending = 0;
        for (int i = 0; i < snapshot.length; i++) {
            seen[i] = snapshot[i].state();
            if (Reader.isIdle(seen[i])) {
                snapshot[i] = null;
            } else {
                pending++;
            }
        }
        int waitedFor = pending;
        long start = System.nanoTime();
        long warnAt = start + WARN_NANOS;
        for (int round = 0; pending > 0; round++) {
            for (int i = 0; i < snapshot.length; i++) {
                if (snapshot[i] != null && snapshot[i].state() != seen[i]) {
                    snapshot[i] = null;
                    pending--;
                }
            }
            if (pending == 0) {
                break;
            }
            long now = System.nanoTime();
            if (now - warnAt >= 0) {
                LOG.warn("a port removal has waited {} ms for datapath threads to finish their loop turn: {}",
                        TimeUnit.NANOSECONDS.toMillis(now - start), names(snapshot));
                warnAt = now + WARN_NANOS;
            }
            pause(round);
        }
        return waitedFor;
    }

    /** Spin briefly (a busy thread finishes its batch within microseconds), then sleep in growing steps. */
    private static void pause(int round) {
        if (round < 64) {
            Thread.onSpinWait();
        } else if (round < 128) {
            Thread.yield();
        } else {
            LockSupport.parkNanos(Math.min(1_000_000L, 10_000L << Math.min(round - 128, 7)));
        }
    }

    private static String names(Reader[] pending) {
        StringBuilder out = new StringBuilder();
        for (Reader r : pending) {
            if (r != null) {
                out.append(out.length() == 0 ? "" : ", ").append(r.name);
            }
        }
        return out.toString();
    }

    /** Readers currently registered (for tests and diagnostics). */
    int readerCount() {
        return readers.size();
    }

    /**
     * One datapath thread's published state: a count of loop turns (even values while busy) with
     * the low bit set while the thread is idle or gone. Only the owning thread calls the marking
     * methods; {@link Quiescence#synchronize()} reads the state from any thread.
     */
    public static final class Reader {
        private static final long IDLE = 1;
        /**
         * The state word lives in the middle of a 32-long array, so the 120 bytes on either side
         * (plus the array header before) keep it alone on its cache lines whatever the heap layout.
         */
        private static final int SLOT = 15;

        private final AtomicLongArray cell = new AtomicLongArray(2 * SLOT + 2);
        private final String name;
        private final Quiescence owner;

        private Reader(String name, Quiescence owner) {
            this.name = name;
            this.owner = owner;
            cell.set(SLOT, IDLE);
        }

        /** The thread starts a loop turn: from now on it may hold what it looks up. */
        public void busy() {
            cell.set(SLOT, (cell.get(SLOT) | IDLE) + 1);
        }

        /** Between two batches of one turn: nothing read before is held any more. */
        public void quiescent() {
            cell.set(SLOT, cell.get(SLOT) + 2);
        }

        /** About to block (or otherwise stop looking at ports): holds nothing until {@link #busy()}. */
        public void idle() {
            cell.set(SLOT, cell.get(SLOT) | IDLE);
        }

        /** The thread ends: idle for good, and no longer waited for. Idempotent. */
        public void close() {
            idle();
            owner.readers.remove(this);
        }

        long state() {
            return cell.get(SLOT);
        }

        static boolean isIdle(long state) {
            return (state & IDLE) != 0;
        }

        @Override
        public String toString() {
            return name;
        }
    }
}
