package io.vswitch.linux;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@link TimerFd} in an {@link Epoll} set, as a VM port queue uses it; no root needed. */
class TimerFdTest {
    private static final int TIMER = 9;

    private Epoll epoll;
    private TimerFd timer;

    @BeforeEach
    void open() throws ErrnoException {
        epoll = new Epoll(2);
        timer = new TimerFd();
        epoll.add(timer.fd(), LibC.EPOLLIN, TIMER);
    }

    @AfterEach
    void close() {
        timer.close();
        epoll.close();
    }

    @Test
    void aOneShotTimerWakesTheSetOnceAndIsConsumed() {
        long now = System.nanoTime();
        timer.fireAt(now + TimeUnit.MILLISECONDS.toNanos(20), now);
        assertFalse(timer.due(now));
        assertEquals(0, epoll.await(0));
        assertEquals(1, epoll.await(2_000), "the timer did not fire");
        assertEquals(TIMER, epoll.token(0));
        long fired = System.nanoTime();
        assertTrue(timer.due(fired));
        timer.fired();
        assertEquals(0, timer.deadline(), "a one-shot timer is no longer set");
        assertEquals(0, epoll.await(50), "a consumed one-shot timer is not reported again");
    }

    @Test
    void anEarlierDeadlineWinsAndALaterOneDoesNotPostponeIt() {
        long now = System.nanoTime();
        timer.fireAt(now + TimeUnit.SECONDS.toNanos(10), now);
        timer.fireAt(now + TimeUnit.MILLISECONDS.toNanos(10), now);
        timer.fireAt(now + TimeUnit.SECONDS.toNanos(20), now);
        assertEquals(now + TimeUnit.MILLISECONDS.toNanos(10), timer.deadline());
        assertEquals(1, epoll.await(2_000), "the earlier deadline did not fire");
    }

    @Test
    void aPeriodicTimerKeepsFiring() {
        long period = TimeUnit.MILLISECONDS.toNanos(10);
        long start = System.nanoTime();
        timer.firePeriodically(period, start);
        for (int round = 0; round < 3; round++) {
            long before = timer.deadline();
            assertEquals(1, epoll.await(2_000), "round " + round);
            assertTrue(timer.due(System.nanoTime()), "round " + round + ": reported ready, so due");
            timer.fired();
            assertTrue(timer.deadline() > before, "round " + round + ": a later period");
            assertEquals(0, (timer.deadline() - start) % period, "round " + round + ": on the schedule it was set to");
        }
    }

    /**
     * A periodic timer served late keeps the kernel's schedule: when the set reports it ready again it
     * is due. With the deadline taken as "when served plus a period" it lagged the kernel by the
     * service delay, so the fd was ready while the timer was not due and its thread spun.
     */
    @Test
    void aPeriodicTimerServedLateIsDueWheneverTheSetReportsIt() throws InterruptedException {
        long period = TimeUnit.MILLISECONDS.toNanos(20);
        timer.firePeriodically(period, System.nanoTime());
        for (int round = 0; round < 3; round++) {
            assertEquals(1, epoll.await(2_000), "round " + round);
            assertTrue(timer.due(System.nanoTime()), "round " + round + ": the fd is ready but the timer is not due");
            Thread.sleep(12); // served late, as a busy datapath thread would
            timer.fired();
        }
    }
}
