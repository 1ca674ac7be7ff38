package io.vswitch.linux;

import io.vswitch.core.port.PortQueue;

/** A port queue backed by a file descriptor that a datapath thread waits on with {@link Epoll}. */
public interface PollableQueue extends PortQueue {
    /** The fd that becomes readable when frames are waiting; owned by the port, never closed by the caller. */
    int fd();
}
