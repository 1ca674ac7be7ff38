package io.vswitch.linux;

import jnr.ffi.Platform;

/**
 * An epoll set: readiness of many fds for one waiting thread, without allocation per wait. {@link #await}
 * fills a preallocated native {@code epoll_event} array that {@link #token} and {@link #events} read in
 * place. The one epoll wrapper: a datapath thread waits on one, and a VM port queue whose sockets come
 * and go keeps a private one whose own {@link #fd()} it hands to its datapath thread (an epoll fd reads
 * as ready whenever a member is), with a {@link TimerFd} among its members.
 *
 * <p><b>Level-triggered</b> (no EPOLLET), on purpose: a datapath thread reads at most a budget of
 * frames from a ready queue and moves on, so one busy port cannot starve the others; with level
 * triggering the kernel reports the unfinished fd again on the next wait, so nothing has to remember
 * "still readable" fds, and a missed drain can never hang a queue. The cost is that a ready fd is
 * reported on every wait until drained, and a detached TAP fd (EPOLLERR, see {@link TapDevice}) until
 * {@link #remove}d.
 *
 * <p><b>Why this jnr-ffi binding.</b> One epoll_wait round trip (timeout 0, one ready eventfd; 2-core
 * VM, kernel 6.18, JDK 17; {@code EpollBenchmarkTest}, 7 x 500k calls after warm-up, two passes) cost:
 * <pre>
 *   this class (jnr-ffi)                  median 558-572 ns   0 B/call
 *   Netty 4.2.18 JNI Native.epollWait     median 547-567 ns   0 B/call
 *   jnr-enxio Selector.selectNow()        median 620-731 ns  88 B/call
 * </pre>
 * The syscall itself dominates; Netty's JNI call is ~10 ns (~2%) cheaper, but it is reachable only
 * through Netty's package-private internals and would bring Netty's native library into this module
 * for that. jnr-enxio's selector is slower and allocates on every select (selected-key set
 * bookkeeping), which a datapath thread cannot afford. So: this binding.
 *
 * <p><b>Ownership and threads.</b> This object owns the epoll fd, the wakeup eventfd and the event
 * array, and releases them in {@link #close()}. It does not own registered fds: closing one of those
 * (its last descriptor) removes it from the set by itself. {@link #await}, {@link #token} and
 * {@link #events} belong to one thread; {@link #add}, {@link #modify} and {@link #remove} may be called
 * from any thread (epoll_ctl is thread-safe; {@code modify} takes a caller-owned scratch event so a
 * transmitting thread waiting for EPOLLOUT allocates nothing) and {@link #wakeup()} from any thread, but
 * none of them concurrently with or after {@link #close()}, which the owner calls once its thread has
 * stopped waiting.
 */
public final class Epoll implements AutoCloseable {

    /** Token reported for {@link #wakeup()}; tokens given to {@link #add} must be non-negative. */
    public static final int WAKEUP = -1;

    /**
     * {@code struct epoll_event {uint32_t events; uint64_t data;}} is packed on x86_64 (12 bytes)
     * and naturally aligned (16 bytes) elsewhere; the token is the low (little-endian: first) 4
     * bytes of data.
     */
    private static final boolean PACKED = Platform.getNativePlatform().getCPU() == Platform.CPU.X86_64;
    /** Size of one {@code epoll_event}: what a scratch buffer given to {@link #modify} must hold. */
    public static final int EVENT_SIZE = PACKED ? 12 : 16;
    private static final int DATA_OFFSET = PACKED ? 4 : 8;

    private static final int ONE = 0;
    private static final int DRAINED = 8;

    private static final LibC LIBC = LibC.INSTANCE;

    private final int epfd;
    private final int wakeupFd;
    private final int maxEvents;
    private final NativeBuffer eventArray;
    /**
     * Two eventfd counters: at {@link #ONE} the constant 1 that {@link #wakeup()} writes (read-only, so
     * any thread may use it), at {@link #DRAINED} where the awaiting thread reads the counter into.
     */
    private final NativeBuffer counters;
    private boolean closed;

    /** @param maxEvents how many ready fds one {@link #await} can report */
    public Epoll(int maxEvents) throws ErrnoException {
        if (maxEvents < 1) {
            throw new IllegalArgumentException("maxEvents must be positive: " + maxEvents);
        }
        this.maxEvents = maxEvents;
        this.epfd = LIBC.epoll_create1(LibC.EPOLL_CLOEXEC);
        if (epfd < 0) {
            throw ErrnoException.last("epoll_create1");
        }
        this.wakeupFd = LIBC.eventfd(0, LibC.EFD_NONBLOCK | LibC.EFD_CLOEXEC);
        if (wakeupFd < 0) {
            ErrnoException e = ErrnoException.last("eventfd");
            LIBC.close(epfd);
            throw e;
        }
        this.eventArray = new NativeBuffer((long) EVENT_SIZE * maxEvents);
        this.counters = new NativeBuffer(16);
        counters.putLong(ONE, 1);
        try {
            addWithTemporaryEvent(wakeupFd, LibC.EPOLLIN, WAKEUP);
        } catch (ErrnoException e) {
            close();
            throw e;
        }
    }

    /** The epoll fd itself, for a set that is waited on as a member of another set. */
    public int fd() {
        return epfd;
    }

    /**
     * Watches {@code fd} for {@code eventMask} (EPOLLIN, EPOLLOUT; level-triggered) under {@code token};
     * EPOLLERR and EPOLLHUP are always reported. Any thread; allocates a temporary event (cold path).
     */
    public void add(int fd, int eventMask, int token) throws ErrnoException {
        if (token < 0) {
            throw new IllegalArgumentException("token must be non-negative: " + token);
        }
        addWithTemporaryEvent(fd, eventMask, token);
    }

    /**
     * Changes what a watched {@code fd} is watched for, building the event in the caller's {@code scratch}
     * ({@link #EVENT_SIZE} bytes, not used by another thread meanwhile); any thread, allocation-free.
     */
    public void modify(int fd, int eventMask, int token, NativeBuffer scratch) throws ErrnoException {
        ctl(LibC.EPOLL_CTL_MOD, fd, eventMask, token, scratch);
    }

    /**
     * Stops watching {@code fd}, e.g. after it reported EPOLLERR because its TAP was deleted; any thread.
     * Returns false if it was not watched.
     */
    public boolean remove(int fd) {
        return LIBC.epoll_ctl(epfd, LibC.EPOLL_CTL_DEL, fd, 0) == 0;
    }

    /**
     * Waits up to {@code timeoutMillis} (0: poll, -1: forever) and returns how many entries
     * {@link #token}/{@link #events} now describe; 0 on timeout or signal. A {@link #wakeup()} shows
     * up as an entry with token {@link #WAKEUP} and is consumed here, so it is reported once.
     *
     * @throws IllegalStateException if epoll_wait fails other than by a signal: with a valid set and
     *     array it cannot (EBADF, EFAULT, EINVAL), so this is a bug, not a condition to handle
     */
    public int await(int timeoutMillis) {
        int n = LIBC.epoll_wait(epfd, eventArray.address(), maxEvents, timeoutMillis);
        if (n < 0) {
            if (LibC.errno() == LibC.EINTR) {
                return 0;
            }
            throw new IllegalStateException(ErrnoException.last("epoll_wait"));
        }
        for (int i = 0; i < n; i++) {
            if (token(i) == WAKEUP) {
                // Reset the counter, or level triggering would report the wakeup on every wait.
                LIBC.read(wakeupFd, counters.address() + DRAINED, 8);
            }
        }
        return n;
    }

    /** The token of ready entry {@code i} (0 &lt;= i &lt; last {@link #await} result). */
    public int token(int i) {
        return eventArray.getInt((long) i * EVENT_SIZE + DATA_OFFSET);
    }

    /** The EPOLL* bits of ready entry {@code i}: EPOLLIN, and EPOLLERR/EPOLLHUP on failure. */
    public int events(int i) {
        return eventArray.getInt((long) i * EVENT_SIZE);
    }

    /** Makes a current or the next {@link #await} return promptly with a {@link #WAKEUP} entry; any thread. */
    public void wakeup() throws ErrnoException {
        // EAGAIN means the counter is saturated: a wakeup is pending anyway.
        if (LIBC.write(wakeupFd, counters.address() + ONE, 8) < 0 && LibC.errno() != LibC.EAGAIN) {
            throw ErrnoException.last("eventfd write");
        }
    }

    /** Closes the epoll fd and the eventfd and frees the event array; idempotent. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            LIBC.close(wakeupFd);
            LIBC.close(epfd);
            eventArray.close();
            counters.close();
        }
    }

    private void addWithTemporaryEvent(int fd, int eventMask, int token) throws ErrnoException {
        try (NativeBuffer event = new NativeBuffer(EVENT_SIZE)) {
            ctl(LibC.EPOLL_CTL_ADD, fd, eventMask, token, event);
        }
    }

    private void ctl(int op, int fd, int eventMask, int token, NativeBuffer event) throws ErrnoException {
        event.putInt(0, eventMask);
        event.putLong(DATA_OFFSET, token & 0xffffffffL);
        if (LIBC.epoll_ctl(epfd, op, fd, event.address()) < 0) {
            throw ErrnoException.last("epoll_ctl(" + (op == LibC.EPOLL_CTL_ADD ? "ADD" : "MOD") + ", " + fd + ")");
        }
    }
}
