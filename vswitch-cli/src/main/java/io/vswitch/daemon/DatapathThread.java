package io.vswitch.daemon;

import io.vswitch.core.bridge.Bridge;
import io.vswitch.core.bridge.BridgePort;
import io.vswitch.core.bridge.Forwarder;
import io.vswitch.core.bridge.Ingress;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.gso.Segmenter;
import io.vswitch.core.port.Port;
import io.vswitch.core.port.SharedReceiveQueue;
import io.vswitch.linux.DirectAddress;
import io.vswitch.linux.Epoll;
import io.vswitch.linux.ErrnoException;
import io.vswitch.linux.PollableQueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import java.util.Arrays;

/**
 * The thread of one ingress queue, run to completion: wait for the queue's fd, then drain it in
 * batches (read into the queue's fragments, parse, learn, record the flow, forward, write, release)
 * until a batch comes back short. It owns its epoll set, batch, forwarder and segmenter scratch; the
 * port and queue belong to the {@link PortRegistry}, which starts and stops this thread.
 *
 * <p>A {@link SharedReceiveQueue} (a VXLAN socket serving several VNIs) returns frames of several ports
 * in one batch: each goes to the ingress of the port it arrived on, made on first use and kept while
 * that port stays attached to the bridge.
 */
final class DatapathThread extends Thread {
    private static final Logger LOG = LoggerFactory.getLogger(DatapathThread.class);
    private static final int QUEUE_TOKEN = 0;

    private final BridgePort port;
    private final PollableQueue queue;
    private final Bridge bridge;
    private final Epoll epoll;
    private volatile boolean running = true;
    /** This thread's forwarder (it owns the segmenter's scratch), shared by every ingress the thread runs. */
    private Forwarder forwarder;
    /** Ingresses of the other ports a shared queue receives for; this thread only. */
    private BridgePort[] sharedPorts = new BridgePort[0];
    private Ingress[] sharedIngress = new Ingress[0];

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
        forwarder = new Forwarder(bridge, new Segmenter(DirectAddress.INSTANCE));
        Ingress ingress = new Ingress(bridge, port, queue.index(), forwarder);
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
                if (queue instanceof SharedReceiveQueue shared) {
                    dispatch(shared, batch, ingress, System.nanoTime());
                } else {
                    ingress.process(batch, System.nanoTime());
                }
                logFailure(ingress);
            }
            if (n < batch.capacity()) {
                return true;
            }
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
                batch.get(i).release(); // its port is being removed
            }
        }
        batch.clear();
        for (Ingress other : sharedIngress) {
            logFailure(other);
        }
    }

    /** The ingress of another port this thread receives for, or null once it left the bridge. */
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
        RuntimeException failure = ingress.takeFailure();
        if (failure != null) {
            LOG.error("{}: a frame raised an exception (dropped as internal-error; the thread goes on)", getName(), failure);
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
