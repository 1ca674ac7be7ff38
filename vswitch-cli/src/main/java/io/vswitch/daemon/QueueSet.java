package io.vswitch.daemon;

import io.vswitch.core.bridge.BridgePort;
import io.vswitch.linux.Epoll;
import io.vswitch.linux.ErrnoException;
import io.vswitch.linux.LibC;
import io.vswitch.linux.PollableQueue;
import io.vswitch.metrics.WakeupHistogram;
import java.util.Arrays;

/**
 * The ingress queues one {@link DatapathThread} serves, and the epoll set it waits on for them (OVS's
 * rx queues of one PMD thread). It outlives the thread: when a thread dies, its successor serves the
 * same set. In the daemon's default mode a set holds one queue; with {@code --datapath-threads N}
 * each of the N sets gets the queues of many ports.
 *
 * <p><b>Who touches what.</b> The control plane (the daemon's lock holder) calls {@link #add},
 * {@link #remove} and {@link #close}; the serving thread calls {@link #slot}, {@link #epoll()}'s
 * {@code await}/{@code token}, and {@link #forget} for a queue whose port went away. The served slots
 * are an immutable array published by one volatile store (copy-on-write), indexed by the epoll
 * token: a slot keeps its token while it is served, and a freed token may be reused by a later
 * queue.
 *
 * <p><b>Why the races are benign.</b> A removal marks the slot {@link Slot#removed}, publishes an
 * array without it, takes its fd out of the epoll set, and only after a {@link Quiescence} grace
 * period does the caller close the queue. The thread looks each ready token up in the array it loads
 * after its last quiescent point, and re-checks {@code removed} after each quiescent point inside a
 * drain, so once the grace period is over it cannot reach the removed queue: a token from an
 * {@code epoll_wait} that returned before the removal finds no slot (skipped) or, if the token was
 * reused meanwhile, the new queue (a spurious drain that finds it empty). An add racing with a wait
 * is seen on the next wait.
 */
final class QueueSet implements AutoCloseable {
    /** Ready fds one wait reports; more ready queues are simply reported by the next wait (level-triggered). */
    private static final int MAX_EVENTS = 64;

    /** One served queue. */
    static final class Slot {
        final int token;
        final BridgePort port;
        final PollableQueue queue;
        /**
         * Frames per wake-up of this queue, for the metrics; written by the one thread serving the
         * set (a successor only after its predecessor died, published by {@code Thread.start}).
         */
        final WakeupHistogram wakeups = new WakeupHistogram();
        /** Set by the control plane before the grace period that precedes closing the queue. */
        volatile boolean removed;
        /** Set by the serving thread when the queue's port went away (a deleted TAP); it is no longer polled. */
        volatile boolean ended;

        Slot(int token, BridgePort port, PollableQueue queue) {
            this.token = token;
            this.port = port;
            this.queue = queue;
        }
    }

    private final Epoll epoll;
    private volatile Slot[] slots = new Slot[0];
    /** Queues served; control plane only. */
    private int size;

    QueueSet() throws ErrnoException {
        this.epoll = new Epoll(MAX_EVENTS);
    }

    /** Serves {@code queue} of {@code port} from the next wait on; control plane only. */
    Slot add(BridgePort port, PollableQueue queue) throws ErrnoException {
        Slot[] current = slots;
        int token = 0;
        while (token < current.length && current[token] != null) {
            token++;
        }
        Slot slot = new Slot(token, port, queue);
        epoll.add(queue.fd(), LibC.EPOLLIN, token);
        Slot[] next = Arrays.copyOf(current, Math.max(current.length, token + 1));
        next[token] = slot;
        slots = next;
        size++;
        return slot;
    }

    /**
     * Stops serving the slot's queue: the caller must let a {@link Quiescence} grace period pass
     * before it closes the queue. Control plane only.
     */
    void remove(Slot slot) {
        slot.removed = true;
        Slot[] next = slots.clone();
        next[slot.token] = null;
        slots = next;
        epoll.remove(slot.queue.fd()); // false if the thread already forgot an ended queue
        size--;
    }

    /** The serving thread stops polling a queue whose port is gone; it stays in the set until removed. */
    void forget(Slot slot) {
        slot.ended = true;
        epoll.remove(slot.queue.fd());
    }

    /** The slot that {@code token} stands for now, or null if it is no longer served; serving thread. */
    Slot slot(int token) {
        Slot[] current = slots;
        return token >= 0 && token < current.length ? current[token] : null;
    }

    /** Every slot served now (a snapshot). */
    Slot[] slots() {
        return slots;
    }

    /** How many queues are served; control plane only. */
    int size() {
        return size;
    }

    Epoll epoll() {
        return epoll;
    }

    /** Frees the epoll set once no thread waits on it any more; control plane only. */
    @Override
    public void close() {
        epoll.close();
    }
}
