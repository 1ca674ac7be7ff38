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
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The thread of one ingress queue, run to completion: wait for the queue's fd, then drain it in
 * batches (read into the queue's fragments, parse, learn, record the flow, forward, write, release)
 * until a batch comes back short. It owns its epoll set, batch, forwarder and segmenter scratch; the
 * port and queue belong to the {@link PortRegistry}, which starts and stops this thread.
 */
final class DatapathThread extends Thread {
    private static final Logger LOG = LoggerFactory.getLogger(DatapathThread.class);
    private static final int QUEUE_TOKEN = 0;

    private final BridgePort port;
    private final PollableQueue queue;
    private final Bridge bridge;
    private final Epoll epoll;
    private volatile boolean running = true;

    DatapathThread(Bridge bridge, BridgePort port, PollableQueue queue) throws ErrnoException {
        super("dp-" + port.name() + "-q" + queue.index());
        setDaemon(true);
        this.bridge = bridge;
        this.port = port;
        this.queue = queue;
        this.epoll = new Epoll(2);
        epoll.add(queue.fd(), QUEUE_TOKEN);
    }

    @Override
    public void run() {
        FrameBatch batch = new FrameBatch(FrameBatch.DEFAULT_CAPACITY);
        Ingress ingress = new Ingress(bridge, port, queue.index(),
                new Forwarder(bridge, new Segmenter(DirectAddress.INSTANCE)));
        try {
            while (running) {
                int ready = epoll.await(-1);
                for (int i = 0; i < ready && running; i++) {
                    if (epoll.token(i) == QUEUE_TOKEN && !drain(batch, ingress)) {
                        LOG.info("{}: port gone, thread ends (the port stays down until removed)", getName());
                        return;
                    }
                }
            }
        } catch (ErrnoException e) {
            LOG.error("datapath thread {} stopped: {}", getName(), e.getMessage());
        } catch (RuntimeException e) {
            LOG.error("datapath thread {} failed", getName(), e);
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
                ingress.process(batch, System.nanoTime());
                RuntimeException failure = ingress.takeFailure();
                if (failure != null) {
                    LOG.error("{}: a frame raised an exception (dropped as internal-error; the thread goes on)", getName(), failure);
                }
            }
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
        if (!isAlive()) {
            epoll.close();
        }
    }
}
