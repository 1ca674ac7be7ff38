package io.vswitch.linux;

/**
 * A one-shot or periodic timer as a pollable fd (timerfd): a VM port queue puts it in its private
 * {@link Epoll} set, so the datapath thread that waits on the set also wakes when the timer fires (to
 * retry a read the allocator refused, to time out a guest that stopped in the middle of a frame, to
 * probe a datagram peer).
 *
 * <p>Owned and used by one thread, the queue's receiving thread, from creation to {@link #close()}; it
 * keeps the deadline in Java so that checking it costs no system call.
 */
public final class TimerFd implements AutoCloseable {
    private static final LibC LIBC = LibC.INSTANCE;

    private final int fd;
    /** struct itimerspec {interval{sec,nsec}, value{sec,nsec}}, then 8 bytes to read the expiries into. */
    private final NativeBuffer spec = new NativeBuffer(40);
    private long deadline;
    /** The period of a timer set by {@link #firePeriodically}; 0 for a one-shot timer. */
    private long periodNanos;
    private boolean closed;

    public TimerFd() throws ErrnoException {
        fd = LIBC.timerfd_create(LibC.CLOCK_MONOTONIC, LibC.TFD_NONBLOCK | LibC.TFD_CLOEXEC);
        if (fd < 0) {
            ErrnoException e = ErrnoException.last("timerfd_create");
            spec.close();
            throw e;
        }
    }

    /** The fd to watch for EPOLLIN; readable from the first expiry until {@link #fired} consumes it. */
    public int fd() {
        return fd;
    }

    /**
     * Makes the timer fire at {@code deadline} (System.nanoTime() scale) unless it is already set to
     * fire earlier.
     */
    public void fireAt(long deadline, long now) {
        if (this.deadline != 0 && this.deadline - deadline <= 0) {
            return;
        }
        set(Math.max(1, deadline - now), 0);
        this.deadline = deadline;
        this.periodNanos = 0;
    }

    /** Makes the timer fire every {@code periodNanos}, the first time one period from now. */
    public void firePeriodically(long periodNanos, long now) {
        set(periodNanos, periodNanos);
        deadline = now + periodNanos;
        this.periodNanos = periodNanos;
    }

    /** When the timer is set to fire next (System.nanoTime() scale), or 0 when it is not set. */
    public long deadline() {
        return deadline;
    }

    /** Whether the timer is set and its deadline has passed at {@code now}. */
    public boolean due(long now) {
        return deadline != 0 && now - deadline >= 0;
    }

    /**
     * Consumes the expiries so a level-triggered set stops reporting the fd; call when the set reported
     * it ready. A periodic timer's next deadline is then the kernel's next expiry: the last deadline
     * plus the periods that expired. Not "now plus a period": a thread that serves the timer late would
     * put its deadline after the kernel's next expiry, find the fd ready but the timer not due, and
     * busy-loop until it was, a lag that grew by the service delay every period (an idle VM datagram
     * port's thread spent a quarter of a CPU this way within a second at a 20 ms period).
     */
    public void fired() {
        if (LIBC.read(fd, spec.address() + 32, 8) != 8) {
            return; // EAGAIN: nothing expired, the deadline stands
        }
        deadline = periodNanos > 0 ? deadline + spec.getLong(32) * periodNanos : 0;
    }

    private void set(long firstNanos, long periodNanos) {
        spec.putLong(0, periodNanos / 1_000_000_000L);
        spec.putLong(8, periodNanos % 1_000_000_000L);
        spec.putLong(16, firstNanos / 1_000_000_000L);
        spec.putLong(24, firstNanos % 1_000_000_000L);
        if (LIBC.timerfd_settime(fd, 0, spec.address(), 0) < 0) {
            // Only EBADF/EFAULT/EINVAL: a valid fd and spec cannot fail, so this is a bug.
            throw new IllegalStateException(ErrnoException.last("timerfd_settime"));
        }
    }

    /** Closes the fd (which also removes it from any epoll set) and frees the spec; idempotent. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            LIBC.close(fd);
            spec.close();
        }
    }
}
