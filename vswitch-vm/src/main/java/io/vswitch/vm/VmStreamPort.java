package io.vswitch.vm;

import io.vswitch.linux.Epoll;
import io.vswitch.linux.UnixAddress;
import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.frame.DropReason;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.linux.DirectAddress;
import io.vswitch.linux.ErrnoException;
import io.vswitch.linux.LibC;
import io.vswitch.linux.NativeBuffer;
import io.vswitch.linux.TimerFd;
import io.vswitch.linux.PollableQueue;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A VM port for QEMU's {@code -netdev stream} (QEMU 7.2+): vswitch listens on a unix stream socket,
 * the guest's QEMU connects as client, and each frame travels as a 4-byte big-endian length followed
 * by the Ethernet frame.
 *
 * <p><b>One guest at a time.</b> The first connection owns the port; while it lives, further
 * connections are accepted and closed at once ({@link VmPort.Event#REFUSED}, logged). When the guest
 * goes away (QEMU exits, is killed, or closes the socket) the link goes down and the next connection
 * (a restarted VM, or QEMU's {@code reconnect=}) takes the port back. Before refusing, the current
 * connection is checked for a pending end-of-stream, so a VM that restarts faster than the old
 * connection's end was read is not refused.
 *
 * <p><b>Receive</b> (the datapath thread): {@link StreamFrameReader} turns the stream into frames; a
 * bad length prefix, or a frame left incomplete for longer than the stall timeout, closes that
 * connection with a counted reason; nothing else is affected.
 *
 * <p><b>Transmit</b> (any datapath thread): {@link StreamConnection} sends prefix and frame in one
 * {@code send} without a copy and keeps the tail of a frame the socket took only in part, so the
 * guest always sees whole frames. With no guest connected, transmits drop as
 * {@link DropReason#PORT_DOWN} and {@link #linkUp()} is false.
 */
public final class VmStreamPort extends VmPort {
    /** How long a started frame may wait for its remaining bytes before the connection is dropped. */
    public static final Duration DEFAULT_STALL_TIMEOUT = Duration.ofSeconds(2);
    /** Send buffer asked for on a guest connection (SO_SNDBUFFORCE, else as much as SO_SNDBUF allows). */
    static final int SEND_BUFFER = 1 << 20;

    private static final int LISTEN = 1;
    private static final int CONN = 2;
    private static final int TIMER = 3;
    private static final int SO_PEERCRED = 17;
    private static final int PORT_DOWN = DropReason.PORT_DOWN.ordinal();
    private static final int OVERSIZE = DropReason.OVERSIZE.ordinal();

    private static final LibC LIBC = LibC.INSTANCE;

    private final long stallNanos;
    private final int sendBuffer;
    private final UnixAddress address;
    private final int listenFd;
    /** The queue's private set (listening socket, guest connection, timer); its fd is what the datapath thread waits on. */
    private final Epoll events;
    private final TimerFd timer;
    private final Queue queue;
    /** The guest's connection, or null; replaced only by the datapath thread (and close). */
    private volatile StreamConnection conn;
    private volatile boolean closed;
    /** Partial sends of the connections already closed; written by the datapath thread only. */
    private volatile long partialSendsOfClosed;

    private VmStreamPort(String name, Path path, Integer mtu, Duration stallTimeout, int sendBuffer) throws IOException {
        super(name, path, mtu);
        this.sendBuffer = sendBuffer;
        this.stallNanos = stallTimeout.toNanos();
        if (stallNanos <= 0) {
            throw new IllegalArgumentException("stall timeout must be positive");
        }
        this.address = new UnixAddress(socketPath());
        Epoll ev = null;
        TimerFd tm = null;
        int fd = -1;
        try {
            fd = bindSocket(LibC.SOCK_STREAM, address);
            if (LIBC.listen(fd, 4) < 0) {
                throw new ErrnoException("listen(" + socketPath() + ")", LibC.errno());
            }
            ev = new Epoll(8);
            tm = new TimerFd();
            ev.add(tm.fd(), LibC.EPOLLIN, TIMER);
            ev.add(fd, LibC.EPOLLIN, LISTEN);
        } catch (IOException | RuntimeException e) {
            if (ev != null) {
                ev.close();
            }
            if (tm != null) {
                tm.close();
            }
            if (fd >= 0) {
                LIBC.close(fd);
            }
            removeSocketFile();
            address.close();
            throw e;
        }
        this.listenFd = fd;
        this.events = ev;
        this.timer = tm;
        this.queue = new Queue();
    }

    /**
     * Listens on {@code path} (created; a stale socket file is replaced) for the guest's QEMU.
     *
     * @param mtu the guest's MTU, or null for {@value VmPort#DEFAULT_MTU}
     */
    public static VmStreamPort open(String name, Path path, Integer mtu) throws IOException {
        return open(name, path, mtu, DEFAULT_STALL_TIMEOUT);
    }

    /** Like {@link #open(String, Path, Integer)} with a stall timeout other than 2 s. */
    public static VmStreamPort open(String name, Path path, Integer mtu, Duration stallTimeout) throws IOException {
        return new VmStreamPort(name, path, mtu, stallTimeout, SEND_BUFFER);
    }

    /** For tests: a guest connection with a small send buffer, so that the socket takes frames in part. */
    static VmStreamPort open(String name, Path path, Integer mtu, Duration stallTimeout, int sendBuffer) throws IOException {
        return new VmStreamPort(name, path, mtu, stallTimeout, sendBuffer);
    }

    @Override
    public String kind() {
        return "vm-stream";
    }

    @Override
    public PollableQueue queue(int index) {
        if (index != 0) {
            throw new IndexOutOfBoundsException("a VM port has one queue: " + index);
        }
        return queue;
    }

    /** True while a guest is connected. */
    @Override
    public boolean linkUp() {
        return conn != null;
    }

    /** Process id of the connected guest's QEMU (from SO_PEERCRED), or -1 when none is connected. */
    public long guestPid() {
        StreamConnection c = conn;
        return c == null ? -1 : c.pid;
    }

    /** How many frames the guest's socket took only in part, the rest following when it had room. */
    public long partialSends() {
        StreamConnection c = conn;
        return partialSendsOfClosed + (c == null ? 0 : c.partialSends());
    }

    @Override
    public String qemuNetdev() {
        return "stream,id=" + qemuId() + ",server=off,addr.type=unix,addr.path=" + qemuValue(socketPath());
    }

    /** Closes the guest's connection (if any) and the listening socket, and removes the socket file. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        StreamConnection c = conn;
        if (c != null) {
            conn = null;
            c.close();
        }
        LIBC.close(listenFd);
        events.close();
        timer.close();
        queue.close();
        removeSocketFile();
        address.close();
    }

    /** The port's single queue: receive on the datapath thread, transmit from any. */
    private final class Queue implements PollableQueue {
        private final FragAllocator allocator = new FragAllocator(DirectAddress.INSTANCE);
        private final StreamFrameReader reader = new StreamFrameReader(maxFrameLength(), timer, stallNanos);
        private final NativeBuffer peek = new NativeBuffer(16);

        @Override
        public int fd() {
            return events.fd();
        }

        @Override
        public int index() {
            return 0;
        }

        @Override
        public FragAllocator allocator() {
            return allocator;
        }

        @Override
        public int receive(FrameBatch batch) {
            if (closed) {
                return -1;
            }
            StreamConnection c = conn;
            int n = 0;
            if (c != null) {
                n = reader.read(c.fd, batch, allocator);
                if (reader.failure() != null) {
                    drop(c);
                }
            }
            long now = System.nanoTime();
            if (n == 0 || timer.due(now)) {
                serviceEvents(now);
            } else {
                StreamConnection current = conn;
                if (current != null && current.waitingForRoom) {
                    current.flushKeptTail();
                }
            }
            return n;
        }

        /** Timer, room to write, and new connections: what the private epoll set says is ready. */
        private void serviceEvents(long now) {
            int ready = events.await(0);
            boolean listenReady = false;
            for (int i = 0; i < ready; i++) {
                int token = events.token(i);
                if (token == TIMER) {
                    timer.fired();
                    StreamConnection c = conn;
                    if (c != null && reader.checkStall(now)) {
                        drop(c);
                    }
                } else if (token == CONN) {
                    StreamConnection c = conn;
                    if (c != null && (events.events(i) & LibC.EPOLLOUT) != 0) {
                        c.flushKeptTail();
                    }
                } else if (token == LISTEN) {
                    listenReady = true;
                }
            }
            if (listenReady) {
                acceptAll();
            }
        }

        private void acceptAll() {
            while (true) {
                StreamConnection c = conn;
                if (c != null) {
                    int state = peekState(c);
                    if (state == PEEK_DATA) {
                        return; // read what the owner sent first; the newcomer waits in the backlog
                    }
                    if (state == PEEK_EOF) {
                        // The owner exited (its end was not read yet): the newcomer is its successor.
                        drop(c, Event.PEER_CLOSED, null, reader.reset());
                    }
                }
                int fd = LIBC.accept4(listenFd, 0, 0, LibC.SOCK_NONBLOCK | LibC.SOCK_CLOEXEC);
                if (fd < 0) {
                    int errno = LibC.errno();
                    if (errno == LibC.EINTR || errno == LibC.ECONNABORTED) {
                        continue;
                    }
                    if (errno != LibC.EAGAIN) {
                        log().warn("port {}: accept on {} failed: {}", name(), socketPath(),
                                new ErrnoException("accept4", errno).getMessage());
                    }
                    return;
                }
                long pid = peerPid(fd);
                StreamConnection owner = conn;
                if (owner != null) {
                    LIBC.close(fd);
                    counted(Event.REFUSED);
                    log().warn("port {}: refused a connection from pid {} on {}: the port belongs to the guest of pid {}"
                            + " (refused so far: {})", name(), pid, socketPath(), owner.pid, count(Event.REFUSED));
                    continue;
                }
                adopt(fd, pid);
            }
        }

        private static final int PEEK_ALIVE = 0;
        private static final int PEEK_DATA = 1;
        private static final int PEEK_EOF = 2;

        /** Whether the connection has unread data, has ended, or is idle and alive (one MSG_PEEK recv). */
        private int peekState(StreamConnection c) {
            long r = LIBC.recv(c.fd, peek.address(), 1, LibC.MSG_PEEK | LibC.MSG_DONTWAIT);
            if (r > 0) {
                return PEEK_DATA;
            }
            if (r == 0) {
                return PEEK_EOF;
            }
            int errno = LibC.errno();
            return errno == LibC.EAGAIN || errno == LibC.EINTR ? PEEK_ALIVE : PEEK_EOF;
        }

        private void adopt(int fd, long pid) {
            setSendBuffer(fd, sendBuffer);
            StreamConnection c = new StreamConnection(fd, pid, maxFrameLength(), events, CONN);
            try {
                events.add(fd, LibC.EPOLLIN, CONN);
            } catch (ErrnoException e) {
                log().warn("port {}: cannot watch the guest connection: {}", name(), e.getMessage());
                c.close();
                return;
            }
            reader.reset();
            conn = c;
            counted(Event.CONNECTED);
            log().info("port {}: guest connected (pid {}) on {}; link up", name(), pid, socketPath());
        }

        /** Closes the connection for the reader's failure. */
        private void drop(StreamConnection c) {
            Event event = reader.failure();
            String detail = reader.failureDetail();
            drop(c, event, detail, reader.reset());
        }

        /** Closes the connection for {@code event}; the link goes down until the next guest connects. */
        private void drop(StreamConnection c, Event event, String detail, int unfinished) {
            conn = null;
            partialSendsOfClosed += c.partialSends();
            c.close();
            counted(event);
            if (event == Event.PEER_CLOSED) {
                log().info("port {}: guest (pid {}) disconnected{}; link down", name(), c.pid,
                        unfinished > 0 ? " in the middle of a frame (" + unfinished + " bytes discarded)" : "");
            } else {
                log().warn("port {}: closed the connection of the guest (pid {}): {} [{}]; link down until it reconnects",
                        name(), c.pid, detail, event.label());
            }
        }

        @Override
        public int transmit(Frame frame) {
            StreamConnection c = conn;
            if (c == null) {
                return PORT_DOWN;
            }
            if (frame.length() > maxFrameLength()) {
                return OVERSIZE;
            }
            return c.transmit(frame);
        }

        void close() {
            reader.close();
            peek.close();
        }
    }

    // ---- small socket helpers (cold path) ----

    private static void setSendBuffer(int fd, int bytes) {
        try (NativeBuffer value = new NativeBuffer(4)) {
            value.putInt(0, bytes);
            if (LIBC.setsockopt(fd, LibC.SOL_SOCKET, LibC.SO_SNDBUFFORCE, value.address(), 4) < 0) {
                LIBC.setsockopt(fd, LibC.SOL_SOCKET, LibC.SO_SNDBUF, value.address(), 4);
            }
        }
    }

    private static long peerPid(int fd) {
        try (NativeBuffer cred = new NativeBuffer(16)) {
            cred.putInt(12, 12);
            if (LIBC.getsockopt(fd, LibC.SOL_SOCKET, SO_PEERCRED, cred.address(), cred.address() + 12) < 0) {
                return -1;
            }
            return cred.getInt(0);
        }
    }

}
