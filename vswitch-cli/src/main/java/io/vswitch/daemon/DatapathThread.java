package io.vswitch.daemon;

import io.vswitch.core.bridge.Bridge;
import io.vswitch.core.bridge.BridgePort;
import io.vswitch.core.bridge.Forwarder;
import io.vswitch.core.bridge.Ingress;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.gso.Segmenter;
import io.vswitch.linux.DirectAddress;
import io.vswitch.linux.Epoll;
import io.vswitch.linux.ErrnoException;
import io.vswitch.linux.PollableQueue;
import io.vswitch.metrics.WakeupHistogram;
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
 */
final class DatapathThread extends Thread {
    private static final Logger LOG = LoggerFactory.getLogger(DatapathThread.class);
    private static final int QUEUE_TOKEN = 0;

    private final BridgePort port;
    private final PollableQueue queue;
    private final Bridge bridge;
    private final Epoll epoll;
    private final Quiescence.Reader reader;
    private volatile boolean running = true;
    /** Frames per wake-up, for the metrics; written by this thread only. */
    final WakeupHistogram wakeups = new WakeupHistogram();
    /** Frames handled since the last wake-up; this thread only. */
    private int framesThisWakeup;

    DatapathThread(Bridge bridge, BridgePort port, PollableQueue queue, Quiescence quiescence) throws ErrnoException {
        super("dp-" + port.name() + "-q" + queue.index());
        setDaemon(true);
        this.bridge = bridge;
        this.port = port;
        this.queue = queue;
        this.epoll = new Epoll(2);
        try {
            epoll.add(queue.fd(), QUEUE_TOKEN);
        } catch (ErrnoException e) {
            epoll.close();
            throw e;
        }
        this.reader = quiescence.register(getName());
    }

    @Override
    public void run() {
        FrameBatch batch = new FrameBatch(FrameBatch.DEFAULT_CAPACITY);
        Ingress ingress = new Ingress(bridge, port, queue.index(),
                new Forwarder(bridge, new Segmenter(DirectAddress.INSTANCE)));
        try {
            while (running) {
                reader.idle();
                int ready = epoll.await(-1);
                reader.busy();
                for (int i = 0; i < ready && running; i++) {
                    if (epoll.token(i) == QUEUE_TOKEN && !drain(batch, ingress)) {
                        LOG.info("{}: port gone, thread ends (the port stays down until removed)", getName());
                        return;
                    }
                }
                wakeups.record(framesThisWakeup);
                framesThisWakeup = 0;
            }
        } catch (ErrnoException e) {
            LOG.error("datapath thread {} stopped: {}", getName(), e.getMessage());
        } catch (RuntimeException e) {
            LOG.error("datapath thread {} failed", getName(), e);
        } finally {
            reader.close();
        }
    }

    /** Reads and forwards until a short batch; false when the port is gone. */
    private boolean drain(FrameBatch batch, Ingress ingress) {
        while (true) {
            int n = queue.receive(batch);
            if (n < 0) {
                return false;
            }
            if (n > 0) {
                framesThisWakeup += n;
                ingress.process(batch, System.nanoTime());
                RuntimeException failure = ingress.takeFailure();
                if (failure != null) {
                    LOG.error("{}: a frame raised an exception (dropped as internal-error; the thread goes on)", getName(), failure);
                }
            }
            reader.quiescent();
            if (n < batch.capacity()) {
                return true;
            }
        }
    }

    /** Stops the loop and waits for the thread; frees the epoll set. Called by the owner only. */
    void shutdown() {
        running = false;
        try {
            epoll.wakeup();
        } catch (ErrnoException e) {
            LOG.warn("cannot wake {}: {}", getName(), e.getMessage());
        }
        if (Thread.currentThread() != this) {
            try {
                join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (getState() == State.NEW) {
            reader.close();
        }
        if (!isAlive()) {
            epoll.close();
        }
    }
}
