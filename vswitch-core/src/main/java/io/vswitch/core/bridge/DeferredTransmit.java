package io.vswitch.core.bridge;

import io.vswitch.core.frame.DropReason;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.port.BatchSink;
import io.vswitch.core.port.FrameSink;
import io.vswitch.core.port.QueueCounters;

/**
 * Known-unicast frames held back per output queue until the end of a receive batch, then sent with
 * one {@link BatchSink#transmit(Frame[], int, int[])} per queue: the bridge's {@code xmit_more}.
 *
 * <p><b>Why.</b> One send per frame lets every frame's delivery wake the receiver behind the output
 * (a veth peer's socket, in softirq inside our syscall), which may preempt this thread at each
 * syscall return: on 2 cores a context switch per frame. One {@code sendmmsg} for the batch returns
 * once. Measured whole-switch in {@code bench/system-bench} (see {@code PacketTransmitter}).
 *
 * <p><b>Ownership.</b> Collected frames are borrowed: they still belong to the receive batch, whose
 * {@link Ingress} releases them only after {@link #flush()}; nothing may touch their bytes meanwhile,
 * which is why only frames that leave whole to exactly one output are collected (a flood rewrites the
 * VLAN tag in place for each output, and is sent at once).
 *
 * <p><b>Order.</b> A frame sent at once to a queue that holds collected frames would overtake them,
 * so {@link #flushQueue} must be called first for that queue (only that one: the other queues' frames
 * cannot be reordered by it, and their batch is kept).
 *
 * <p><b>Threads.</b> One per datapath thread, owned by its {@link Forwarder}; never shared. A
 * collection never outlives the receive batch it was made in, so the output ports it refers to
 * cannot be closed before it is flushed: their close waits for this thread's next quiescent point,
 * which comes after the batch. Other threads may transmit to the same queues at the same time, as
 * they may today (the sinks allow it).
 */
public final class DeferredTransmit {
    /** Distinct output queues collected at once; a further one flushes them all first (rare: 64 frames, few outputs). */
    static final int QUEUES = 8;
    /** Frames collected per queue before it is sent early; one receive batch's worth. */
    static final int FRAMES = 64;

    private final BatchSink[] sinks = new BatchSink[QUEUES];
    private final QueueCounters[] counters = new QueueCounters[QUEUES];
    private final Frame[][] frames = new Frame[QUEUES][FRAMES];
    private final int[] counts = new int[QUEUES];
    private final int[] results = new int[FRAMES];
    private int queues;
    /** The last exception a send threw since {@link #flush()}. */
    private RuntimeException failure;

    /**
     * Holds {@code frame} back for {@code sink}, to be sent by {@link #flush()}; counted on
     * {@code out} then. The caller keeps the frame unreleased and untouched until then.
     */
    void collect(Frame frame, BatchSink sink, QueueCounters out) {
        int q = slotOf(sink);
        if (q < 0) {
            if (queues == QUEUES) {
                sendAll();
            }
            q = queues++;
            sinks[q] = sink;
            counters[q] = out;
        }
        frames[q][counts[q]++] = frame;
        if (counts[q] == Math.min(FRAMES, sink.batchCapacity())) {
            send(q);
        }
    }

    /** Sends what is collected for {@code sink}, if anything: before a frame goes to it at once. */
    void flushQueue(FrameSink sink) {
        int q = slotOf(sink);
        if (q >= 0) {
            send(q);
        }
    }

    /**
     * Sends everything collected, one call per queue, and counts each frame; nothing is held
     * afterwards. A send that threw (here or in an earlier early send) counted its frames as
     * {@link DropReason#INTERNAL_ERROR} without stopping the other queues; its exception is rethrown
     * here, after all of them, for the caller to report.
     */
    public void flush() {
        sendAll();
        RuntimeException e = failure;
        if (e != null) {
            failure = null;
            throw e;
        }
    }

    /** Sends every slot and frees them all; a failure stays for {@link #flush()} to report. */
    private void sendAll() {
        for (int q = 0; q < queues; q++) {
            send(q);
            sinks[q] = null;
            counters[q] = null;
        }
        queues = 0;
    }

    private int slotOf(FrameSink sink) {
        for (int q = 0; q < queues; q++) {
            if (sinks[q] == sink) {
                return q;
            }
        }
        return -1;
    }

    /**
     * Sends and forgets slot {@code q}'s frames; the slot stays assigned to its queue until
     * {@link #flush()}. Never throws: a failing sink must not take the frame being forwarded with it.
     */
    private void send(int q) {
        int n = counts[q];
        if (n == 0) {
            return;
        }
        counts[q] = 0;
        Frame[] batch = frames[q];
        QueueCounters out = counters[q];
        try {
            sinks[q].transmit(batch, n, results);
        } catch (RuntimeException e) {
            for (int i = 0; i < n; i++) {
                out.dropped(DropReason.INTERNAL_ERROR.ordinal());
                batch[i] = null;
            }
            failure = e;
            return;
        }
        for (int i = 0; i < n; i++) {
            int rc = results[i];
            if (rc == FrameSink.SENT) {
                out.transmitted(batch[i].length());
            } else {
                out.dropped(rc);
            }
            batch[i] = null;
        }
    }
}
