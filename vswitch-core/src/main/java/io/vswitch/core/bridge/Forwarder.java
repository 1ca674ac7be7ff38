package io.vswitch.core.bridge;

import io.vswitch.core.fdb.Fdb;
import io.vswitch.core.frame.DropReason;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.gso.Segmenter;
import io.vswitch.core.port.BatchSink;
import io.vswitch.core.port.FrameMirror;
import io.vswitch.core.port.FrameSink;
import io.vswitch.core.port.Offloads;
import io.vswitch.core.port.Port;
import io.vswitch.core.port.QueueCounters;
import io.vswitch.core.vlan.VlanMembership;
import io.vswitch.core.vlan.VlanTags;

/**
 * Egress and flooding (the kernel's {@code br_forward.c}): known unicast goes to its port, unknown
 * unicast, broadcast and multicast to every other forwarding port of the frame's VLAN that floods.
 * Known unicast whose port is down or does not carry the frame's VLAN is dropped, not flooded, as
 * {@code br_forward} drops it.
 *
 * <p>Flooding sends the same buffer to each output; the VLAN tag is pushed or popped in place in the
 * headroom only when the next output wants it differently, so no output costs a copy. The output
 * queue of a multi-queue port is picked by its {@link io.vswitch.core.flow.FlowTable}, which sends
 * replies back on the queue their flow arrived on. Ports that cannot take the frame's offloads get
 * it through the {@link Segmenter}.
 *
 * <p>Known unicast to a {@link BatchSink} that takes the frame whole is not sent at once but
 * collected in a {@link DeferredTransmit} and sent per output queue by {@link #flush()} at the end of
 * the receive batch; everything else is sent at once, after that queue's collected frames.
 *
 * <p>One forwarder per datapath thread (it owns the segmenter's scratch memory and the collection).
 */
public final class Forwarder {
    private static final long MULTICAST_BIT = 0x0100_0000_0000L;

    private final Bridge bridge;
    private final Fdb fdb;
    private final Segmenter segmenter;
    private final DeferredTransmit deferred = new DeferredTransmit();

    public Forwarder(Bridge bridge, Segmenter segmenter) {
        this.bridge = bridge;
        this.fdb = bridge.fdb();
        this.segmenter = segmenter;
    }

    /**
     * Forwards a parsed, classified frame received on {@code in}, whose queue counts in {@code
     * inCounters}. The frame may be held for {@link #flush()}: the caller releases it only after that,
     * and leaves its bytes alone until then.
     */
    public void forward(Frame frame, BridgePort in, QueueCounters inCounters, long now) {
        int vlan = frame.bridgeVlan();
        long dst = frame.dstMac();
        if ((dst & MULTICAST_BIT) == 0) {
            int out = fdb.lookup(vlan, dst);
            // A null port: detached since the lookup, its entries flushed; the address is unknown again.
            BridgePort target = out == Fdb.NO_PORT ? null : bridge.portAt(out);
            if (target != null) {
                if (target == in) {
                    inCounters.dropped(DropReason.SAME_PORT.ordinal());
                } else if (shouldDeliver(in, target, vlan)) {
                    deliver(frame, target, vlan, now, true);
                } else {
                    inCounters.dropped(DropReason.DESTINATION_UNAVAILABLE.ordinal());
                }
                return;
            }
        }
        flood(frame, in, inCounters, vlan, now);
    }

    /**
     * Sends the frames {@link #forward} held back, one batch per output queue, and counts them. Rethrows
     * (after sending everything) an exception a sink threw, whose frames were counted as
     * {@link DropReason#INTERNAL_ERROR}.
     */
    public void flush() {
        deferred.flush();
    }

    /**
     * Whether a frame of {@code vlan} received on {@code in} may leave through {@code to}: the one
     * test for known unicast and for each output of a flood, as {@code should_deliver} in
     * {@code br_forward.c} (not back where it came from, port forwarding, VLAN allowed on egress).
     */
    private static boolean shouldDeliver(BridgePort in, BridgePort to, int vlan) {
        return to != in && to.forwarding() && to.vlans().carries(vlan);
    }

    private void flood(Frame frame, BridgePort in, QueueCounters inCounters, int vlan, long now) {
        BridgePort[] ports = bridge.ports();
        boolean sent = false;
        for (BridgePort target : ports) {
            if (target.flooding() && shouldDeliver(in, target, vlan)) {
                deliver(frame, target, vlan, now, false);
                sent = true;
            }
        }
        if (!sent) {
            inCounters.dropped(DropReason.NO_OUTPUT.ordinal());
        }
    }

    /**
     * Sends {@code frame} to {@code target}, tagged as that port wants it. With {@code deferrable} (the
     * frame goes to this output only, so nothing rewrites it before the flush) a whole frame for a
     * {@link BatchSink} is collected instead.
     */
    private void deliver(Frame frame, BridgePort target, int vlan, long now, boolean deferrable) {
        VlanMembership vlans = target.vlans();
        boolean tagged = frame.tagOffset() != Frame.NONE;
        if (vlans.egressTagged(vlan)) {
            if (!tagged) {
                VlanTags.push(frame, vlan);
            } else if (frame.vlanId() != vlan) {
                VlanTags.pop(frame);
                VlanTags.push(frame, vlan);
            }
        } else if (tagged) {
            VlanTags.pop(frame);
        }
        FrameMirror mirror = target.mirror();
        if (mirror != null) {
            mirror.mirror(frame, false);
        }
        Port port = target.port();
        int queues = port.queueCount();
        int queue = queues == 1 ? 0 : target.flows().select(frame.flowHash(), queues, now);
        QueueCounters counters = target.counters().queue(queue);
        FrameSink sink = port.queue(queue);
        if (!Offloads.accepts(port.offloads(), frame)) {
            deferred.flushQueue(sink);
            segmenter.send(frame, sink, counters, port.maxFrameLength(), port.oversizeReason());
            return;
        }
        if (!frame.isGso() && frame.length() > port.maxFrameLength()) {
            counters.dropped(port.oversizeReason().ordinal());
            return;
        }
        if (deferrable && sink instanceof BatchSink batchSink) {
            deferred.collect(frame, batchSink, counters);
            return;
        }
        deferred.flushQueue(sink);
        int rc = sink.transmit(frame);
        if (rc == FrameSink.SENT) {
            counters.transmitted(frame.length());
        } else {
            counters.dropped(rc);
        }
    }
}
