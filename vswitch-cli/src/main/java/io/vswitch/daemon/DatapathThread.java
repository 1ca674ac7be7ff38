package io.vswitch.daemon;

import io.vswitch.core.bridge.Bridge;
import io.vswitch.core.bridge.BridgePort;
import io.vswitch.core.bridge.Forwarder;
import io.vswitch.core.bridge.Ingress;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.gso.Segmenter;
import io.vswitch.core.port.Port;
import io.vswitch.core.port.SharedReceiveQueue;
import io.vswitch.linux.DirectAddress;
import io.vswitch.linux.Epoll;
import io.vswitch.linux.ErrnoException;
import io.vswitch.linux.PollableQueue;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A datapath thread, run to completion over the ingress queues of its {@link QueueSet}: wait on the
 * set's epoll, then drain each ready queue in batches (read into the queue's fragments, parse, learn,
 * record the flow, forward, write, release) until a batch comes back short. In the daemon's default
 * mode it serves one queue ({@code dp-PORT-qN}); with {@code --datapath-threads N} it is one of N pool
 * threads ({@code dp-0} ...) serving the queues of many ports, as Open vSwitch's PMD threads poll
 * several rx queues and its non-PMD thread serves every TAP and system port. One thread serving both
 * ends of a TCP flow (a tenant's TAP and the system port) writes the ACK into the TAP and finds the
 * tenant's next data there on its next wait, without waking another thread (issue 11).
 *
 * <p>It owns its batch, forwarder, segmenter scratch and one {@link Ingress} per served queue (made
 * on first use, on this thread); the ports, queues and the queue set belong to the
 * {@link PortRegistry}, and the thread's {@link QueueSupervisor} starts, restarts and stops it.
 *
 * <p>It is a {@link Quiescence} reader: idle while it waits in {@code epoll_wait}, busy from its
 * wakeup, quiescent after each batch. Every frame looks its output ports up afresh in the bridge, and
 * each ready token is looked up in the queue set after the last quiescent point (see
 * {@link QueueSet} for why a queue removed under it is then never touched), so nothing it found
 * survives a quiescent point, and a removed port's fds are closed only after this thread has passed
 * one (see {@link PortRegistry#remove}).
 *
 * <p><b>Busy polling</b> ({@code vswitch daemon --busy-poll-us}, off by default): a thread that was
 * woken again soon after it last went to sleep (busy queues, not a ping every few milliseconds)
 * first polls its epoll set without sleeping for up to the budget after its last frames, and sleeps
 * only when nothing came in that time. Each sleep and wakeup costs a context switch on both sides (the
 * kernel wakes this thread from the TAP's or packet socket's receive path); Open vSwitch's one
 * non-PMD thread seldom sleeps under load, which is its edge on the system port's TCP x1 (see
 * docs/latency.md). The thread passes a quiescent point on every turn of the poll, so a grace period
 * does not wait for it.
 *
 * <p>A {@link SharedReceiveQueue} (a VXLAN socket serving several VNIs) returns frames of several ports
 * in one batch: each goes to the ingress of the port it arrived on, made on first use and kept while
 * that port stays attached to the bridge.
 */
final class DatapathThread extends Thread {
    private static final Logger LOG = LoggerFactory.getLogger(DatapathThread.class);
    static final long WARN_MILLIS = 5000;
    /**
     * A blocking wait shorter than this means the thread is busy, and the next one is preceded by busy
     * polling: a stream of a few thousand frames a second or more qualifies, a ping every 10 ms does not.
     */
    static final long BUSY_QUEUE_SLEEP_NANOS = 200_000;

    private final QueueSet queues;
    private final Epoll epoll;
    private final Bridge bridge;
    private final Quiescence.Reader reader;
    /** How long to poll without sleeping after the last frames of a busy thread; 0: never. */
    private final long busyPollNanos;
    private volatile boolean running = true;
    private volatile Throwable failure;
    /** This thread's forwarder (it owns the segmenter's scratch), shared by every ingress the thread runs. */
    private Forwarder forwarder;
    /** The ingress of each served slot, by token, and the slot it was made for; this thread only. */
    private Ingress[] ingress = new Ingress[0];
    private QueueSet.Slot[] ingressSlot = new QueueSet.Slot[0];
    /** Ingresses of the other ports a shared queue receives for; this thread only. */
    private BridgePort[] sharedPorts = new BridgePort[0];
    private Ingress[] sharedIngress = new Ingress[0];

    DatapathThread(String name, Bridge bridge, QueueSet queues, Quiescence quiescence, Duration busyPoll) {
        super(name);
        setDaemon(true);
        this.bridge = bridge;
        this.queues = queues;
        this.epoll = queues.epoll();
        this.busyPollNanos = busyPoll.toNanos();
        this.reader = quiescence.register(name);
    }

    @Override
    public void run() {
        FrameBatch batch = new FrameBatch(FrameBatch.DEFAULT_CAPACITY);
        forwarder = new Forwarder(bridge, new Segmenter(DirectAddress.INSTANCE));
        long lastFrames = 0;
        long lastSleep = Long.MAX_VALUE;
        try {
            while (running) {
                int ready = busyPollNanos > 0 && lastSleep < BUSY_QUEUE_SLEEP_NANOS ? busyPoll(lastFrames) : 0;
                if (ready == 0) {
                    reader.idle();
                    long asleep = System.nanoTime();
                    ready = epoll.await(-1);
                    lastSleep = System.nanoTime() - asleep;
                    reader.busy();
                }
                for (int i = 0; i < ready && running; i++) {
                    // Looked up after the last quiescent point: a slot removed before it is gone here.
                    QueueSet.Slot slot = queues.slot(epoll.token(i));
                    if (slot != null && !slot.removed && !slot.ended) {
                        serve(batch, slot);
                    }
                }
                lastFrames = System.nanoTime();
            }
        } catch (RuntimeException | Error e) {
            failure = e;
            releaseHeldFrames(batch);
            LOG.error("datapath thread {} died; its queues receive nothing until it is restarted", getName(), e);
        } finally {
            reader.close();
        }
    }

    /** Drains one ready queue and records its frames for this wakeup. */
    private void serve(FrameBatch batch, QueueSet.Slot slot) {
        int frames = drain(batch, slot, ingress(slot));
        if (frames < 0) {
            LOG.info("{}: port {} queue {} gone; no longer polled (the port stays down until removed)", getName(),
                    slot.port.name(), slot.queue.index());
            queues.forget(slot);
            frames = 0;
        }
        slot.wakeups.record(frames);
    }

    /** The ingress of a served slot, made on its first wakeup (cold path: once per queue added). */
    private Ingress ingress(QueueSet.Slot slot) {
        int token = slot.token;
        if (token < ingressSlot.length && ingressSlot[token] == slot) {
            return ingress[token];
        }
        if (token >= ingressSlot.length) {
            ingress = Arrays.copyOf(ingress, token + 1);
            ingressSlot = Arrays.copyOf(ingressSlot, token + 1);
        }
        ingress[token] = new Ingress(bridge, slot.port, slot.queue.index(), forwarder);
        ingressSlot[token] = slot;
        return ingress[token];
    }

    /** Polls the epoll set without sleeping until it reports something or the budget since {@code since} is spent. */
    private int busyPoll(long since) {
        int ready;
        while ((ready = epoll.await(0)) == 0 && running && System.nanoTime() - since < busyPollNanos) {
            reader.quiescent();
            Thread.onSpinWait();
        }
        return ready;
    }

    /**
     * Gives back the fragments of frames a failed receive or forward left in the batch, so the queue's
     * allocator (which a restarted thread goes on using) does not lose them. Every frame of the batch
     * is looked at, committed or not: a receive may fail between allocating a frame and committing it.
     */
    private static void releaseHeldFrames(FrameBatch batch) {
        for (int i = 0; i < batch.capacity(); i++) {
            Frame frame = batch.get(i);
            if (frame.attached()) {
                frame.release();
            }
        }
        batch.clear();
    }

    /**
     * Reads and forwards until a short batch; returns the frames handled, or -1 when the port is gone.
     * Stops early when the slot was removed: after the quiescent point that ends a batch the queue
     * may be closed as soon as this thread moves on.
     *
     * <p>The first batch after a wakeup holds one frame, and each full batch doubles the next one's
     * limit up to the capacity. A queue that woke us mostly holds a single frame (a ping, a TCP ACK),
     * and a batch only ends with the read that finds the queue empty (EAGAIN): with a full-size first
     * batch that read came between the frame's arrival and its forwarding: 7–11 µs on a ping's cold
     * hop, 3–4 µs on the warm one, measured with bench/ping-hops (docs/latency.md). Now the frame is written first and the empty read follows it; a busy queue
     * reaches full batches after log2(capacity) turns, so its syscalls per frame do not change.
     */
    private int drain(FrameBatch batch, QueueSet.Slot slot, Ingress ingress) {
        PollableQueue queue = slot.queue;
        int frames = 0;
        int limit = 1;
        while (true) {
            batch.limit(limit);
            int n = queue.receive(batch);
            if (n < 0) {
                return -1;
            }
            if (n > 0) {
                frames += n;
                if (queue instanceof SharedReceiveQueue shared) {
                    dispatch(shared, batch, slot.port, ingress, System.nanoTime());
                } else {
                    ingress.process(batch, System.nanoTime());
                }
                logFailure(ingress);
            }
            reader.quiescent();
            if (n < limit || slot.removed) {
                return frames;
            }
            limit = Math.min(2 * limit, batch.capacity());
        }
    }

    /** Hands each frame of a shared queue's batch to the ingress of the port it arrived on. */
    private void dispatch(SharedReceiveQueue shared, FrameBatch batch, BridgePort port, Ingress own, long now) {
        int n = batch.count();
        for (int i = 0; i < n; i++) {
            Port receiver = shared.receiver(i);
            Ingress target = receiver == port.port() ? own : sharedIngress(receiver);
            if (target != null) {
                target.process(batch.get(i), now);
            } else {
                batch.get(i).release(); // its port is not (or no longer) on the bridge
            }
        }
        batch.clear();
        for (Ingress other : sharedIngress) {
            logFailure(other);
        }
    }

    /** The ingress of another port this thread receives for, or null while it is not on the bridge. */
    private Ingress sharedIngress(Port receiver) {
        for (int i = 0; i < sharedPorts.length; i++) {
            BridgePort bp = sharedPorts[i];
            if (bp.port() == receiver) {
                if (bridge.portAt(bp.index()) == bp) {
                    return sharedIngress[i];
                }
                forgetShared(i);
                return null;
            }
        }
        for (BridgePort bp : bridge.ports()) {
            if (bp.port() == receiver) { // first frame of this port: cold path
                Ingress made = new Ingress(bridge, bp, 0, forwarder);
                sharedPorts = Arrays.copyOf(sharedPorts, sharedPorts.length + 1);
                sharedIngress = Arrays.copyOf(sharedIngress, sharedIngress.length + 1);
                sharedPorts[sharedPorts.length - 1] = bp;
                sharedIngress[sharedIngress.length - 1] = made;
                return made;
            }
        }
        return null;
    }

    private void forgetShared(int i) {
        int last = sharedPorts.length - 1;
        sharedPorts[i] = sharedPorts[last];
        sharedIngress[i] = sharedIngress[last];
        sharedPorts = Arrays.copyOf(sharedPorts, last);
        sharedIngress = Arrays.copyOf(sharedIngress, last);
    }

    private void logFailure(Ingress ingress) {
        RuntimeException frameFailure = ingress.takeFailure();
        if (frameFailure != null) {
            LOG.error("{}: a frame raised an exception (dropped as internal-error; the thread goes on)", getName(), frameFailure);
        }
    }

    /**
     * Why the thread died, or null while it runs or when it was stopped. Read by its supervisor once the thread is no longer alive.
     */
    Throwable failure() {
        return failure;
    }

    /**
     * Stops the loop and waits for the thread to end, logging a warning every {@value #WARN_MILLIS}
     * ms while it does not. Only once it has ended is true returned: then nothing of its queues is in
     * use any more. After {@code giveUpAfter} it returns false; the caller must then leave the queue
     * set and its ports open (leaked deliberately: a thread
     * that wakes up late would otherwise read through freed buffers and fds reused by others).
     * Called by the owner only.
     */
    boolean shutdown(Duration giveUpAfter) {
        running = false;
        if (getState() == State.NEW) {
            reader.close();
            return true;
        }
        try {
            epoll.wakeup();
        } catch (ErrnoException e) {
            LOG.warn("cannot wake {}: {}", getName(), e.getMessage());
        }
        long start = System.nanoTime();
        long deadline = start + giveUpAfter.toNanos();
        boolean interrupted = false;
        while (isAlive()) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                break;
            }
            try {
                join(Math.max(1, Math.min(WARN_MILLIS, TimeUnit.NANOSECONDS.toMillis(left))));
            } catch (InterruptedException e) {
                interrupted = true; // finish the wait: returning early would free what the thread uses
            }
            if (isAlive()) {
                LOG.warn("{} has not stopped after {} ms; still waiting", getName(),
                        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        if (isAlive()) {
            LOG.error("{} did not stop within {} ms: its port stays open and its buffers allocated (leaked on purpose,"
                    + " so the thread cannot touch freed memory or fds if it ever wakes up)", getName(), giveUpAfter.toMillis());
            return false;
        }
        return true;
    }
}
