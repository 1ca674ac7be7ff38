package io.vswitch.linux;

import static io.vswitch.linux.Allocations.assertNoAllocation;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The hot-path calls must not allocate on the Java heap, errno included. Uses an eventfd (no root
 * needed): an 8-byte write adds to its counter, a read drains it, and it can be watched by epoll.
 */
class LibCAllocationTest {

    private static final int CALLS = 100_000;
    private static final LibC LIBC = LibC.INSTANCE;

    private int efd;
    private int epfd;
    private NativeBuffer mem;
    private long value;
    private long scratch;
    private long iovec;
    private long event;
    private long ready;

    @BeforeEach
    void open() {
        efd = LIBC.eventfd(0, LibC.EFD_NONBLOCK | LibC.EFD_CLOEXEC);
        epfd = LIBC.epoll_create1(LibC.EPOLL_CLOEXEC);
        assertTrue(efd >= 0 && epfd >= 0, "eventfd/epoll_create1 failed, errno " + LibC.errno());
        mem = new NativeBuffer(64);
        value = mem.address();
        scratch = value + 8;
        iovec = value + 16;
        event = value + 32;
        ready = value + 48; // one epoll_event out of epoll_wait
        mem.putLong(0, 1); // the eventfd increment
        mem.putLong(16, value); // struct iovec {base = &value, len = 8}
        mem.putLong(24, 8);
        mem.putInt(32, LibC.EPOLLIN); // struct epoll_event
        assertEquals(0, LIBC.epoll_ctl(epfd, LibC.EPOLL_CTL_ADD, efd, event));
    }

    @AfterEach
    void close() {
        LIBC.close(epfd);
        LIBC.close(efd);
        mem.close();
    }

    @Test
    void writeDoesNotAllocate() throws Exception {
        assertNoAllocation("write", CALLS, () -> LIBC.write(efd, value, 8));
    }

    @Test
    void writevDoesNotAllocate() throws Exception {
        assertNoAllocation("writev", CALLS, () -> LIBC.writev(efd, iovec, 1));
    }

    @Test
    void readAndReadvDoNotAllocate() throws Exception {
        // Each read is preceded by a write so that it always finds something.
        assertNoAllocation("read", CALLS, () -> LIBC.write(efd, value, 8) + LIBC.read(efd, scratch, 8));
        assertNoAllocation("readv", CALLS, () -> LIBC.write(efd, value, 8) + LIBC.readv(efd, iovec, 1));
    }

    @Test
    void epollWaitDoesNotAllocate() throws Exception {
        LIBC.write(efd, value, 8); // never drained: level-triggered readiness stays
        assertNoAllocation("epoll_wait", CALLS, () -> LIBC.epoll_wait(epfd, ready, 1, 0));
    }

    @Test
    void failedCallAndErrnoDoNotAllocate() throws Exception {
        // The slow path: -1, then errno (EAGAIN from an empty non-blocking eventfd).
        assertNoAllocation("failed read + errno", CALLS,
                () -> LIBC.read(efd, scratch, 8) == -1 && LibC.errno() == LibC.EAGAIN ? 1 : -1);
    }
}
