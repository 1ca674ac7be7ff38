package io.vswitch.core.port;

import io.vswitch.core.frame.Frame;

/** Somewhere a frame can be written to: one queue of a port. */
@FunctionalInterface
public interface FrameSink {
    /** Result of a transmit that went out. */
    int SENT = -1;

    /**
     * Writes {@code frame} out now, without blocking. The frame still belongs to the caller, which
     * may send the same bytes to further sinks and releases it afterwards; a sink that must keep the
     * bytes copies them.
     *
     * @return {@link #SENT}, or the {@link io.vswitch.core.frame.DropReason} ordinal of why not
     */
    int transmit(Frame frame);
}
