package io.vswitch.linux;

import jnr.ffi.Platform;

/**
 * The private epoll set of a VM port queue, plus its one-shot or periodic timer (a timerfd in the set).
 *
 * <p>The daemon's {@code DatapathThread} registers a queue's {@code fd()} once, but a VM port's
 * sockets change while it runs (a guest connects, goes away, comes back). So the queue hands out this
 * set's epoll fd instead: an epoll fd is itself pollable and reads as ready whenever one of its
 * members is ready, so the datapath thread wakes for a new connection, for guest data, for a socket
 * that can take a stalled write again, or for the timer, and {@code receive()} asks this set which.
 *
 * <p>Level-triggered like {@link io.vswitch.linux.Epoll}. {@link #poll}, {@link #token}, {@link #events}
 * and the timer belong to the receiving thread; {@link #add}/{@link #modify} may run on any thread
 * (epoll_ctl is thread-safe) with a caller-owned scratch event, so a transmitting thread that has to
 * wait for EPOLLOUT allocates nothing.
 */
public final class EventSet implements AutoCloseable {
    private static final LibC LIBC = LibC.INSTANCE;
    private static final LibC SYS = LibC.INSTANCE;

    /** Token of the timer's entry. */
    public static final int TIMER = 0x7fff_fff0;

    /** struct epoll_event is packed (12 bytes) on x86_64, naturally aligned (16) elsewhere. */
    public static final boolean PACKED = Platform.getNativePlatform().getCPU() == Platform.CPU.X86_64;
    public static final int EVENT_SIZE = PACKED ? 12 : 16;
    private static final int DATA_OFFSET = PACKED ? 4 : 8;
    private static final int MAX_EVENTS = 8;

    private final int epfd;
    private final int timerFd;
    private final NativeBuffer events = new NativeBuffer((long) EVENT_SIZE * MAX_EVENTS);
    /** Event scratch for add/modify on the receiving thread (other threads bring their own). */
    private final NativeBuffer ownEvent = new NativeBuffer(EVENT_SIZE);
    /** struct itimerspec {interval{sec,nsec}, value{sec,nsec}}, then 8 bytes to read the timer into. */
    private final NativeBuffer timerSpec = new NativeBuffer(40);
    private long timerDeadline;
    private boolean closed;

    public EventSet() throws ErrnoException {
        epfd = LIBC.epoll_create1(LibC.EPOLL_CLOEXEC);
        if (epfd < 0) {
            ErrnoException e = new ErrnoException("epoll_create1", LibC.errno());
            freeMemory();
            throw e;
        }
        timerFd = SYS.timerfd_create(LibC.CLOCK_MONOTONIC, LibC.TFD_NONBLOCK | LibC.TFD_CLOEXEC);
        if (timerFd < 0) {
            ErrnoException e = new ErrnoException("timerfd_create", LibC.errno());
            LIBC.close(epfd);
            freeMemory();
            throw e;
        }
        try {
            add(timerFd, LibC.EPOLLIN, TIMER);
        } catch (ErrnoException e) {
            close();
            throw e;
        }
    }

    /** The epoll fd to hand to whoever waits for this queue. */
    public int fd() {
        return epfd;
    }

    /** Watches {@code fd} for {@code eventMask} (EPOLLIN/EPOLLOUT) under {@code token}; receiving thread. */
    public void add(int fd, int eventMask, int token) throws ErrnoException {
        ctl(LibC.EPOLL_CTL_ADD, fd, eventMask, token, ownEvent);
    }

    /** Like {@link #add(int, int, int)} from any thread, with a caller-owned {@code scratch} ({@link #EVENT_SIZE} bytes). */
    public void add(int fd, int eventMask, int token, NativeBuffer scratch) throws ErrnoException {
        ctl(LibC.EPOLL_CTL_ADD, fd, eventMask, token, scratch);
    }

    /** Stops watching {@code fd}; any thread. Returns false if it was not watched (or is already closed). */
    public boolean remove(int fd) {
        return LIBC.epoll_ctl(epfd, LibC.EPOLL_CTL_DEL, fd, 0) == 0;
    }

    /** Changes what {@code fd} is watched for, using {@code scratch} ({@link #EVENT_SIZE} bytes); any thread. */
    public void modify(int fd, int eventMask, int token, NativeBuffer scratch) throws ErrnoException {
        ctl(LibC.EPOLL_CTL_MOD, fd, eventMask, token, scratch);
    }

    private void ctl(int op, int fd, int eventMask, int token, NativeBuffer scratch) throws ErrnoException {
        scratch.putInt(0, eventMask);
        scratch.putLong(DATA_OFFSET, token & 0xffffffffL);
        if (LIBC.epoll_ctl(epfd, op, fd, scratch.address()) < 0) {
            throw new ErrnoException("epoll_ctl(" + op + ", " + fd + ")", LibC.errno());
        }
    }

    /** Collects what is ready now without waiting; returns how many entries {@link #token}/{@link #events} describe. */
    public int poll() {
        int n = LIBC.epoll_wait(epfd, events.address(), MAX_EVENTS, 0);
        return Math.max(n, 0);
    }

    public int token(int i) {
        return events.getInt((long) i * EVENT_SIZE + DATA_OFFSET);
    }

    public int events(int i) {
        return events.getInt((long) i * EVENT_SIZE);
    }

    // ---- timer (receiving thread only) ----

    /**
     * Makes the timer fire at {@code deadline} (System.nanoTime() scale) unless it is already set to
     * fire earlier.
     */
    public void fireAt(long deadline, long now) {
        if (timerDeadline != 0 && timerDeadline - deadline <= 0) {
            return;
        }
        setTimer(Math.max(1, deadline - now), 0);
        timerDeadline = deadline;
    }

    /** Makes the timer fire every {@code periodNanos}, the first time one period from now. */
    public void firePeriodically(long periodNanos, long now) {
        setTimer(periodNanos, periodNanos);
        timerDeadline = now + periodNanos;
    }

    /** When the timer is set to fire next (System.nanoTime() scale), or 0 when it is not set. */
    public long timerDeadline() {
        return timerDeadline;
    }

    /** Consumes an expiry so the level-triggered set stops reporting it; call when {@link #TIMER} was ready. */
    public void timerFired(long now, long periodNanos) {
        LIBC.read(timerFd, timerSpec.address() + 32, 8);
        timerDeadline = periodNanos > 0 ? now + periodNanos : 0;
    }

    private void setTimer(long firstNanos, long periodNanos) {
        timerSpec.putLong(0, periodNanos / 1_000_000_000L);
        timerSpec.putLong(8, periodNanos % 1_000_000_000L);
        timerSpec.putLong(16, firstNanos / 1_000_000_000L);
        timerSpec.putLong(24, firstNanos % 1_000_000_000L);
        if (SYS.timerfd_settime(timerFd, 0, timerSpec.address(), 0) < 0) {
            throw new IllegalStateException("timerfd_settime failed, errno " + LibC.errno());
        }
    }

    /** Closes the epoll fd and the timer and frees native memory; idempotent. Members are not closed. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            LIBC.close(timerFd);
            LIBC.close(epfd);
            freeMemory();
        }
    }

    private void freeMemory() {
        events.close();
        ownEvent.close();
        timerSpec.close();
    }
}
