package io.vswitch.core.port;

import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.frame.FrameBatch;

/**
 * One queue of a port (for a TAP, one file descriptor). Received frames are carved from the queue's
 * own {@link FragAllocator}; only the queue's datapath thread receives, while any datapath thread
 * may transmit.
 */
public interface PortQueue extends FrameSink {
    /** Position of this queue in its port, from 0. */
    int index();

    /**
     * Reads ready frames into {@code batch}, up to its capacity, without blocking. Frames are
     * attached to buffers from {@link #allocator()}; the caller owns them and releases each one.
     *
     * @return frames read (0 when nothing is ready), or -1 when the port is gone for good
     */
    int receive(FrameBatch batch);

    /** The allocator received frames are carved from; used only by this queue's datapath thread. */
    FragAllocator allocator();
}
