package io.netty.channel.epoll;

import io.netty.channel.unix.FileDescriptor;
import java.io.IOException;

/**
 * Netty's own JNI epoll_wait, for {@code io.vswitch.linux.EpollBenchmarkTest}. It lives in Netty's
 * package because {@code EpollEventArray} and {@code Native.epollWait(fd, array, timeout)} are
 * package-private; this is test-only code.
 */
public final class NettyEpollWait implements AutoCloseable {

    private final FileDescriptor epfd;
    private final EpollEventArray events = new EpollEventArray(16);

    /** Watches {@code fd} (not owned) for EPOLLIN, level-triggered. */
    public NettyEpollWait(int fd) throws IOException {
        Epoll.ensureAvailability();
        epfd = Native.newEpollCreate();
        Native.epollCtlAdd(epfd.intValue(), fd, Native.EPOLLIN);
    }

    /** One epoll_wait with timeout 0; returns the number of ready fds. */
    public int waitNow() throws IOException {
        return Native.epollWait(epfd, events, 0);
    }

    @Override
    public void close() throws IOException {
        events.free();
        epfd.close();
    }
}
