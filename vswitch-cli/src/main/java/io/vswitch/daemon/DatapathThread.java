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
import io.vswitch.linux.LibC;
import io.vswitch.linux.ErrnoException;
import io.vswitch.linux.PollableQueue;
import io.vswitch.metrics.WakeupHistogram;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The thread of one ingress queue, run to completion: wait for the queue's fd, then drain it in
 * batches (read into the queue's fragments, parse, learn, record the flow, forward, write, release)
 * until a batch comes back short. It owns its epoll set, batch, forwarder and segmenter scratch; the
 * port and queue belong to the {@link PortRegistry}, which starts and stops this thread.
 *
 * <p>It is a {@link Quiescence} reader: idle while it waits in {@code epoll_wait}, busy from its
 * wakeup, quiescent after each batch. Every frame looks its output ports up afresh in the bridge, so
 * nothing it found survives a quiescent point, and a removed port's fds are closed only after this
 * thread has passed one (see {@link PortRegistry#remove}).
 *
 * <p><b>Busy polling</b> ({@code vswitch daemon --busy-poll-us}, off by default): a thread whose queue
 * woke it again soon after it last went to sleep (a busy queue, not a ping every few milliseconds)
 * first polls the queue without sleeping for up to the budget after its last frames, and sleeps only
 * when nothing came in that time. Each sleep and wakeup costs a context switch on both sides (the
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
    private static final int QUEUE_TOKEN = 0;
    static final long WARN_MILLIS = 5000;
    /**
     * A blocking wait shorter than this means the queue is busy, and the next one is preceded by busy
     * polling: a stream of a few thousand frames a second or more qualifies, a ping every 10 ms does not.
     */
    static final long BUSY_QUEUE_SLEEP_NANOS = 200_000;

    private final BridgePort port;
    private final PollableQueue queue;
    private final Bridge bridge;
    private final Epoll epoll;
    private final Quiescence.Reader reader;
    /** How long to poll without sleeping after the last frames of a busy queue; 0: never. */
    private final long busyPollNanos;
    private volatile boolean running = true;
    private volatile Throwable failure;
    /** Frames per wake-up, for the metrics: the queue's, written by whichever one thread serves it. */
    private final WakeupHistogram wakeups;
    /** Frames handled since the last wake-up; this thread only. */
    private int framesThisWakeup;
    /** This thread's forwarder (it owns the segmenter's scratch), shared by every ingress the thread runs. */
    private Forwarder forwarder;
    /** Ingresses of the other ports a shared queue receives for; this thread only. */
    private BridgePort[] sharedPorts = new BridgePort[0];
    private Ingress[] sharedIngress = new Ingress[0];

    DatapathThread(Bridge bridge, BridgePort port, PollableQueue queue, Quiescence quiescence, WakeupHistogram wakeups,
            Duration busyPoll) throws ErrnoException {
        super("dp-" + port.name() + "-q" + queue.index());
        setDaemon(true);
        this.bridge = bridge;
        this.port = port;
        this.queue = queue;
        this.wakeups = wakeups;
        this.busyPollNanos = busyPoll.toNanos();
        this.epoll = new Epoll(2);
        try {
            epoll.add(queue.fd(), LibC.EPOLLIN, QUEUE_TOKEN);
        } catch (ErrnoException e) {
            epoll.close();
            throw e;
        }
        this.reader = quiescence.register(getName());
    }

    @Override
    public void run() {
        FrameBatch batch = new FrameBatch(FrameBatch.DEFAULT_CAPACITY);
        forwarder = new Forwarder(bridge, new Segmenter(DirectAddress.INSTANCE));
        Ingress ingress = new Ingress(bridge, port, queue.index(), forwarder);
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
                    if (epoll.token(i) == QUEUE_TOKEN && !drain(batch, ingress)) {
                        LOG.info("{}: port gone, thread ends (the port stays down until removed)", getName());
                        return;
                    }
                }
                wakeups.record(framesThisWakeup);
                framesThisWakeup = 0;
                lastFrames = System.nanoTime();
            }
        } catch (RuntimeException | Error e) {
            failure = e;
            releaseHeldFrames(batch);
            LOG.error("datapath thread {} died; its queue receives nothing until it is restarted", getName(), e);
        } finally {
            reader.close();
        }
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
     * Reads and forwards until a short batch; false when the port is gone.
     *
     * <p>The first batch after a wakeup holds one frame, and each full batch doubles the next one's
     * limit up to the capacity. A queue that woke us mostly holds a single frame (a ping, a TCP ACK),
     * and a batch only ends with the read that finds the queue empty (EAGAIN): with a full-size first
     * batch that read came between the frame's arrival and its forwarding: 7–11 µs on a ping's cold
     * hop, 3–4 µs on the warm one, measured with bench/ping-hops (docs/latency.md). Now the frame is written first and the empty read follows it; a busy queue
     * reaches full batches after log2(capacity) turns, so its syscalls per frame do not change.
     */
    private boolean drain(FrameBatch batch, Ingress ingress) {
        int limit = 1;
        while (true) {
            batch.limit(limit);
            int n = queue.receive(batch);
            if (n < 0) {
                return false;
            }
            if (n > 0) {
                framesThisWakeup += n;
                if (queue instanceof SharedReceiveQueue shared) {
                    dispatch(shared, batch, ingress, System.nanoTime());
                } else {
                    ingress.process(batch, System.nanoTime());
                }
                logFailure(ingress);
            }
            reader.quiescent();
            if (n < limit) {
                return true;
            }
            limit = Math.min(2 * limit, batch.capacity());
        }
    }

    /** Hands each frame of a shared queue's batch to the ingress of the port it arrived on. */
    private void dispatch(SharedReceiveQueue shared, FrameBatch batch, Ingress own, long now) {
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
     * Why the thread died, or null while it runs or when it ended normally (stopped, or its port is
     * gone). Read by its supervisor once the thread is no longer alive.
     */
    Throwable failure() {
        return failure;
    }

    /**
     * Stops the loop and waits for the thread to end, logging a warning every {@value #WARN_MILLIS}
     * ms while it does not. Only once it has ended is its epoll set freed and true returned: then
     * nothing of the queue is in use any more. After {@code giveUpAfter} it returns false and frees
     * nothing; the caller must then leave the queue's port open too (leaked deliberately: a thread
     * that wakes up late would otherwise read through freed buffers and fds reused by others).
     * Called by the owner only.
     */
    boolean shutdown(Duration giveUpAfter) {
        running = false;
        if (getState() == State.NEW) {
            reader.close();
            epoll.close();
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
        epoll.close();
        return true;
    }

    /** Frees the epoll set of a thread that died by itself (its supervisor calls this once it is not alive). */
    void release() {
        epoll.close();
    }
}
