package io.vswitch.vm.vhost;

import com.kenai.jffi.MemoryIO;
import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.frame.DropReason;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.frame.VnetHeader;
import io.vswitch.core.port.BatchSink;
import io.vswitch.core.port.FrameSink;
import io.vswitch.linux.DirectAddress;
import io.vswitch.linux.ErrnoException;
import io.vswitch.linux.Epoll;
import io.vswitch.linux.LibC;
import io.vswitch.linux.NativeBuffer;
import io.vswitch.linux.PollableQueue;
import io.vswitch.linux.TimerFd;
import java.util.Arrays;

/**
 * Queue pair {@code q} of a {@link VhostUserPort}: ring {@code 2q} is the guest's RX (we write
 * frames into it), ring {@code 2q+1} the guest's TX (we take frames from it).
 *
 * <p><b>Receive</b> (this queue's datapath thread): the pollable fd is a private epoll set holding the
 * TX ring's kick eventfd (swapped by the control thread when the front-end sends a new one) and a
 * timer. Each available chain's length is known before the copy, so {@link FragAllocator#allocate}
 * picks fragment or large buffer up front (as {@code tun_can_build_skb}); the chain is copied so that
 * its virtio-net header lands in the headroom right before the Ethernet header and becomes the
 * frame's offload state. Used entries are published once per batch. When the allocator is out of
 * buffers the chain stays in the ring and the timer brings the thread back right after the batch is
 * released.
 *
 * <p><b>Transmit</b> (any datapath thread, several at once; a {@link BatchSink}): each frame's
 * virtio-net header (its offload state) and the frame are copied into the guest's RX buffers, several
 * under MRG_RXBUF, and a whole batch is made visible to the guest with one used-index store and at
 * most one interrupt. No buffer means a {@link DropReason#TX_BUSY} drop counted as
 * {@link VhostEvent#RX_RING_FULL}, never a wait. A queue whose RX ring the guest has not enabled (a
 * single-queue driver on a multi-queue port) hands the frames to queue 0's ring. A batch runs under
 * the RX ring's monitor from its readiness check to its publish: the control thread, which stops,
 * re-maps and resets rings under the same monitor, changes the ring either before the batch (whose
 * frames then all get {@link DropReason#PORT_DOWN}) or after it has published, never in the middle.
 */
final class VhostQueue implements PollableQueue, BatchSink {
    static final int KICK = 1;
    private static final int TIMER = 2;
    /** The most a TX chain may carry: a virtio-net header and the largest frame. */
    static final long MAX_TX_CHAIN = VnetHeader.SIZE + FragAllocator.MAX_LARGE_FRAME;
    /** Cap on what we look at in one guest RX chain (far more than any frame needs). */
    static final long MAX_RX_CHAIN = 1L << 20;

    private static final MemoryIO IO = MemoryIO.getInstance();
    private static final int TX_BUSY = DropReason.TX_BUSY.ordinal();
    private static final int PORT_DOWN = DropReason.PORT_DOWN.ordinal();
    private static final int OVERSIZE = DropReason.OVERSIZE.ordinal();
    /** The one-frame arrays of {@link #transmit(Frame)}, per transmitting thread. */
    private static final ThreadLocal<OneFrame> ONE_FRAME = ThreadLocal.withInitial(OneFrame::new);

    private final VhostUserPort port;
    private final int index;
    final SplitVirtqueue rx;
    final SplitVirtqueue tx;
    private final VhostCounters counters;
    private final FragAllocator allocator = new FragAllocator(DirectAddress.INSTANCE);
    /** The queue's private set (the TX kick and the timer); its fd is what the datapath thread waits on. */
    private final Epoll events;
    /** Armed when the allocator refused a frame, to come back once the batch is released. */
    private final TimerFd retryTimer;
    /** Where the control thread builds the kick it sends when it starts watching a new kick fd. */
    private final NativeBuffer controlKick = new NativeBuffer(8);
    /** Where the receiving thread reads the kick counter into. */
    private final NativeBuffer kickScratch = new NativeBuffer(8);

    VhostQueue(VhostUserPort port, int index, SplitVirtqueue rx, SplitVirtqueue tx, VhostCounters counters)
            throws ErrnoException {
        this.port = port;
        this.index = index;
        this.rx = rx;
        this.tx = tx;
        this.counters = counters;
        Epoll set = new Epoll(4);
        TimerFd timer = null;
        try {
            timer = new TimerFd();
            set.add(timer.fd(), LibC.EPOLLIN, TIMER);
        } catch (ErrnoException | RuntimeException e) {
            if (timer != null) {
                timer.close();
            }
            set.close();
            throw e;
        }
        this.events = set;
        this.retryTimer = timer;
    }

    @Override
    public int fd() {
        return events.fd();
    }

    @Override
    public int index() {
        return index;
    }

    @Override
    public FragAllocator allocator() {
        return allocator;
    }

    /** Control thread: the TX ring's kick eventfd changed. */
    void watchKick(int oldFd, int newFd) {
        if (oldFd >= 0) {
            events.remove(oldFd);
        }
        if (newFd >= 0) {
            try {
                events.add(newFd, LibC.EPOLLIN, KICK);
            } catch (ErrnoException e) {
                VhostUserPort.log().warn("port {}: cannot watch the kick of queue {}: {}", port.name(), index, e.getMessage());
            }
            // The guest may have queued frames before we watched: look once.
            IO.putLong(controlKick.address(), 1);
            LibC.INSTANCE.write(newFd, controlKick.address(), 8);
        }
    }

    @Override
    public int receive(FrameBatch batch) {
        if (port.isClosed()) {
            return -1;
        }
        if (retryTimer.deadline() != 0) {
            consumeRetryTimer();
        }
        int n = 0;
        SplitVirtqueue ring = tx;
        synchronized (ring) {
            ring.consumeKick(kickScratch.address());
            int before = ring.usedIndex();
            Frame frame;
            while ((frame = batch.next()) != null) {
                int chain = ring.nextChain(false, MAX_TX_CHAIN);
                if (chain < 0) {
                    if (chain == SplitVirtqueue.FAILED) {
                        port.ringFailed(ring);
                    }
                    break;
                }
                int length = chain - VnetHeader.SIZE;
                if (length < 0) {
                    // Not even a virtio-net header: nothing to forward, but the buffer goes back.
                    counters.count(VhostEvent.BAD_LENGTH);
                    ring.consumeChain(0);
                    continue;
                }
                if (!allocator.allocate(frame, length)) {
                    long now = System.nanoTime();
                    retryTimer.fireAt(now, now);
                    break;
                }
                ring.copyChainTo(frame.address() - VnetHeader.SIZE);
                ring.consumeChain(0);
                frame.loadVnetHeader();
                batch.commit();
                n++;
            }
            ring.publish(before);
        }
        return n;
    }

    /**
     * Consumes the retry timer once it has fired. Asking the set, not comparing deadlines: the timer
     * expires a little after the deadline it was computed from, and consuming it early would leave it
     * reported ready, and the datapath thread woken, on every wait from then on.
     */
    private void consumeRetryTimer() {
        int ready = events.await(0);
        for (int i = 0; i < ready; i++) {
            if (events.token(i) == TIMER) {
                retryTimer.fired();
            }
        }
    }

    /**
     * One frame: the one-frame case of {@link #transmit(Frame[], int, int[])}, through this thread's
     * one-slot arrays (any datapath thread transmits to any queue, so the arrays cannot be the queue's).
     */
    @Override
    public int transmit(Frame frame) {
        OneFrame one = ONE_FRAME.get();
        one.frames[0] = frame;
        transmit(one.frames, 1, one.results);
        one.frames[0] = null;
        return one.results[0];
    }

    /**
     * A receive batch: nothing here is sized by the batch, but the ring's lock is held for all of it,
     * and another thread transmitting into the same guest queue should wait for no more than that.
     */
    @Override
    public int batchCapacity() {
        return FrameBatch.DEFAULT_CAPACITY;
    }

    /**
     * Writes {@code frames[0..count)} into the guest's RX buffers under one acquisition of the ring's
     * lock and makes them visible with one {@link SplitVirtqueue#publish}: one store of the used index
     * and at most one interrupt for the batch, as the kernel's vhost-net and DPDK's vhost library do
     * per burst.
     *
     * <p>Results: {@link FrameSink#SENT}; {@link DropReason#OVERSIZE} for a whole frame longer than the
     * port's MTU allows (the batch goes on); {@link DropReason#TX_BUSY} (counted as
     * {@link VhostEvent#RX_RING_FULL}) once the guest has no room, for that frame and every later one,
     * which are not tried (the kernel's vhost-net also stops at the first frame that does not fit);
     * {@link DropReason#PORT_DOWN} while the ring does not run, and once the guest broke the ring
     * for that frame and every later one. The frames delivered before a break stay delivered and are
     * published with the rest: they were written into buffers the guest offered, and their results
     * say SENT.
     *
     * <p>Measured with {@code bench/vm-bench} (vhost-user row, 10 boots interleaved with the build that
     * published and signalled per frame, loaded 2-core machine): TCP, ping and 60-byte UDP through a
     * TCG guest within the noise (numbers in {@code docs/ARCHITECTURE.md}). With EVENT_IDX, which
     * Linux drivers negotiate, the guest's {@code used_event} already allows about one interrupt per
     * NAPI round either way; the batch saves eventfd writes where a driver suppresses interrupts
     * with the ring flag only (one write for a batch of 8 where a publish per frame writes 8, in
     * {@code VhostBatchTransmitTest}).
     */
    @Override
    public void transmit(Frame[] frames, int count, int[] results) {
        SplitVirtqueue ring = rx.ready() || index == 0 ? rx : port.queue0Rx();
        boolean mergeable = port.mergeable();
        int tried = 0;
        int stop = FrameSink.SENT; // what the frames from `tried` on get
        synchronized (ring) {
            if (!ring.ready()) {
                stop = PORT_DOWN;
            } else {
                int before = ring.usedIndex();
                while (tried < count && stop == FrameSink.SENT) {
                    int rc = deliver(ring, frames[tried], mergeable);
                    results[tried++] = rc;
                    if (rc == TX_BUSY || rc == PORT_DOWN) {
                        stop = rc;
                    }
                }
                ring.publish(before);
            }
        }
        Arrays.fill(results, tried, count, stop);
        if (stop == TX_BUSY) {
            counters.add(VhostEvent.RX_RING_FULL, count - tried + 1);
        } else if (tried > 0 && results[tried - 1] == PORT_DOWN) {
            port.ringFailed(ring); // this batch broke it: the ring ran when we took the lock
        }
    }

    /**
     * Writes one frame, its virtio-net header first, into {@code ring} (locked, running); marks the
     * buffers used but does not publish them. The header is built in the frame's headroom with
     * {@code num_buffers} 1 (raised by {@link SplitVirtqueue#deliver} when it takes more), and the two
     * bytes it overwrote there are put back: the caller's frame is as it was.
     */
    private int deliver(SplitVirtqueue ring, Frame frame, boolean mergeable) {
        int length = frame.length();
        if (!frame.isGso() && length > port.maxFrameLength()) {
            return OVERSIZE;
        }
        long header = frame.addressOf(frame.storeVnetHeader());
        short saved = IO.getShort(header + 10);
        IO.putShort(header + 10, (short) 1);
        boolean delivered = ring.deliver(header, VnetHeader.SIZE + length, mergeable, MAX_RX_CHAIN);
        IO.putShort(header + 10, saved);
        if (delivered) {
            return FrameSink.SENT;
        }
        return ring.broken() ? PORT_DOWN : TX_BUSY;
    }

    /** After the datapath thread has stopped and the rings were reset. */
    void close() {
        events.close();
        retryTimer.close();
        controlKick.close();
        kickScratch.close();
    }

    /** A one-frame batch: {@link #transmit(Frame)} as a call of {@link #transmit(Frame[], int, int[])}. */
    private static final class OneFrame {
        final Frame[] frames = new Frame[1];
        final int[] results = new int[1];
    }
}
