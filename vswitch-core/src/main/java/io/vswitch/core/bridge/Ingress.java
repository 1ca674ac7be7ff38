package io.vswitch.core.bridge;

import io.vswitch.core.fdb.Fdb;
import io.vswitch.core.flow.FlowHash;
import io.vswitch.core.frame.DropReason;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.frame.FrameParser;
import io.vswitch.core.port.FrameMirror;
import io.vswitch.core.port.QueueCounters;
import io.vswitch.core.vlan.VlanMembership;

/**
 * Ingress of one port queue (the kernel's {@code br_input.c}): validates each received frame,
 * classifies its VLAN, learns its source, records its flow for queue steering and hands it to the
 * {@link Forwarder}. Owned by the queue's datapath thread; run to completion, no allocation.
 */
public final class Ingress {
    private static final long MULTICAST_BIT = 0x0100_0000_0000L;

    private final BridgePort port;
    private final int queue;
    private final QueueCounters counters;
    private final Fdb fdb;
    private final Forwarder forwarder;
    private RuntimeException failure;

    public Ingress(Bridge bridge, BridgePort port, int queue, Forwarder forwarder) {
        this.port = port;
        this.queue = queue;
        this.counters = port.counters().queue(queue);
        this.fdb = bridge.fdb();
        this.forwarder = forwarder;
    }

    /**
     * Processes every frame in {@code batch}, sends what the forwarder held back (see
     * {@link Forwarder#flush()}), then releases the frames and clears the batch. A frame whose handling
     * throws is dropped as {@link DropReason#INTERNAL_ERROR} and the batch goes on; the exception is
     * kept for {@link #takeFailure()}.
     */
    public void process(FrameBatch batch, long now) {
        int n = batch.count();
        try {
            for (int i = 0; i < n; i++) {
                handleOne(batch.get(i), now);
            }
        } finally {
            flush();
            for (int i = 0; i < n; i++) {
                batch.get(i).release();
            }
            batch.clear();
        }
    }

    /**
     * Processes and releases one frame received on this ingress's port: for a receive queue shared by
     * several ports (see {@link io.vswitch.core.port.SharedReceiveQueue}), whose batch mixes their
     * frames. What the forwarder held back is sent before the release, so nothing is batched here.
     */
    public void process(Frame frame, long now) {
        try {
            handleOne(frame, now);
        } finally {
            flush();
            frame.release();
        }
    }

    /** The last exception a frame raised since the previous call, or null; for the owner to log. */
    public RuntimeException takeFailure() {
        RuntimeException e = failure;
        failure = null;
        return e;
    }

    private void handleOne(Frame frame, long now) {
        try {
            handle(frame, now);
        } catch (RuntimeException e) {
            counters.dropped(DropReason.INTERNAL_ERROR.ordinal());
            failure = e;
        }
    }

    private void flush() {
        try {
            forwarder.flush();
        } catch (RuntimeException e) {
            failure = e;
        }
    }

    private void handle(Frame frame, long now) {
        counters.received(frame.length(), frame.isGso());
        FrameMirror mirror = port.mirror();
        if (mirror != null) {
            mirror.mirror(frame, true);
        }
        if (!port.adminUp()) {
            counters.dropped(DropReason.PORT_DOWN.ordinal());
            return;
        }
        int rc = FrameParser.parse(frame);
        if (rc != FrameParser.OK) {
            counters.dropped(rc);
            return;
        }
        long src = frame.srcMac();
        if ((src & MULTICAST_BIT) != 0) {
            counters.dropped(DropReason.MULTICAST_SOURCE.ordinal());
            return;
        }
        if (src == 0) {
            counters.dropped(DropReason.ZERO_SOURCE.ordinal());
            return;
        }
        int vlan = port.vlans().ingressVlan(frame.vlanId());
        if (vlan == VlanMembership.NOT_MEMBER) {
            counters.dropped(DropReason.VLAN_NOT_ALLOWED.ordinal());
            return;
        }
        if (port.learning()) {
            fdb.learn(vlan, src, port.index(), now);
        }
        int hash = FlowHash.of(frame);
        frame.setFlowHash(hash);
        port.flows().record(hash, queue, now);
        frame.setBridgeVlan(vlan);
        forwarder.forward(frame, port, counters, now);
    }
}
