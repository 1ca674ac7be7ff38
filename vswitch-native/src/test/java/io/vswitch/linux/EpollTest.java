package io.vswitch.linux;

import static io.vswitch.linux.Allocations.assertNoAllocation;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@link Epoll} on eventfds; no root needed. */
class EpollTest {

    private static final LibC LIBC = LibC.INSTANCE;

    private Epoll epoll;
    private int efd;
    private NativeBuffer counter;

    @BeforeEach
    void open() throws ErrnoException {
        epoll = new Epoll(4);
        efd = LIBC.eventfd(0, LibC.EFD_NONBLOCK | LibC.EFD_CLOEXEC);
        assertTrue(efd >= 0);
        counter = new NativeBuffer(8);
    }

    @AfterEach
    void close() {
        epoll.close();
        LIBC.close(efd);
        counter.close();
    }

    @Test
    void reportsReadyFdUntilDrained() throws Exception {
        epoll.add(efd, LibC.EPOLLIN, 7);
        assertEquals(0, epoll.await(0));
        signal();
        for (int round = 0; round < 2; round++) { // level-triggered: reported again while unread
            assertEquals(1, epoll.await(0));
            assertEquals(7, epoll.token(0));
            assertEquals(LibC.EPOLLIN, epoll.events(0));
        }
        assertEquals(8, LIBC.read(efd, counter.address(), 8));
        assertEquals(0, epoll.await(0));
        epoll.remove(efd);
        signal();
        assertEquals(0, epoll.await(0));
    }

    @Test
    void wakeupInterruptsABlockedAwaitOnce() throws Exception {
        CompletableFuture<Integer> token = CompletableFuture.supplyAsync(() -> epoll.await(-1) == 1 ? epoll.token(0) : null);
        Thread.sleep(100);
        assertTrue(!token.isDone(), "await(-1) returned without an event");
        epoll.wakeup();
        assertEquals(Epoll.WAKEUP, token.get(5, TimeUnit.SECONDS));
        assertEquals(0, epoll.await(0), "a wakeup is reported once");
    }

    @Test
    void rejectsNegativeTokens() {
        assertThrows(IllegalArgumentException.class, () -> epoll.add(efd, LibC.EPOLLIN, -1));
    }

    @Test
    void modifyChangesWhatIsReportedWithoutAllocating() throws Exception {
        epoll.add(efd, LibC.EPOLLIN, 5);
        assertEquals(0, epoll.await(0), "an empty eventfd is not readable");
        try (NativeBuffer scratch = new NativeBuffer(Epoll.EVENT_SIZE)) {
            epoll.modify(efd, LibC.EPOLLIN | LibC.EPOLLOUT, 6, scratch);
            assertEquals(1, epoll.await(0), "an eventfd far from its limit is writable");
            assertEquals(6, epoll.token(0));
            assertEquals(LibC.EPOLLOUT, epoll.events(0));
            assertNoAllocation("Epoll.modify", 100_000, () -> {
                epoll.modify(efd, LibC.EPOLLIN | LibC.EPOLLOUT, 6, scratch);
                return 0;
            });
            epoll.modify(efd, LibC.EPOLLIN, 5, scratch);
            assertEquals(0, epoll.await(0));
        }
    }

    @Test
    void aSetIsReadableInAnOuterSetWhileAMemberIsReady() throws Exception {
        try (Epoll outer = new Epoll(2)) {
            outer.add(epoll.fd(), LibC.EPOLLIN, 1);
            epoll.add(efd, LibC.EPOLLIN, 2);
            assertEquals(0, outer.await(0));
            signal();
            assertEquals(1, outer.await(0));
            assertEquals(1, outer.token(0));
            assertEquals(1, epoll.await(0), "the inner set names the member");
            assertEquals(2, epoll.token(0));
            assertEquals(8, LIBC.read(efd, counter.address(), 8));
            assertEquals(0, outer.await(0));
        }
    }

    @Test
    void removingAnUnwatchedFdSaysSo() {
        assertTrue(!epoll.remove(efd));
    }

    @Test
    void awaitDoesNotAllocate() throws Exception {
        epoll.add(efd, LibC.EPOLLIN, 3);
        signal();
        assertNoAllocation("Epoll.await+token+events", 100_000,
                () -> epoll.await(0) + epoll.token(0) + epoll.events(0));
    }

    private void signal() {
        counter.putLong(0, 1);
        assertEquals(8, LIBC.write(efd, counter.address(), 8));
    }
}
