package io.vswitch.core.port;

import io.vswitch.core.frame.Frame;

/**
 * A {@link FrameSink} that sends several frames with one system call ({@code sendmmsg}). The
 * {@link io.vswitch.core.gso.Segmenter} hands it the segments of a super-frame together instead of one
 * call per segment, and the bridge's {@link io.vswitch.core.bridge.DeferredTransmit} the known unicast
 * of a whole receive batch for this queue: frames of any flows, lengths and destinations.
 */
public interface BatchSink extends FrameSink {
    /** Most frames one {@link #transmit(Frame[], int, int[])} takes. */
    int batchCapacity();

    /**
     * Writes {@code frames[0..count)} out now, in order, without blocking. The frames still belong to
     * the caller, which releases them afterwards; their bytes are as before when this returns.
     *
     * @param results where the result of each frame goes: {@link #SENT}, or the
     *     {@link io.vswitch.core.frame.DropReason} ordinal of why not
     */
    void transmit(Frame[] frames, int count, int[] results);
}
