package io.vswitch.vm;

import io.vswitch.linux.Epoll;
import io.vswitch.linux.UnixAddress;
import com.kenai.jffi.MemoryIO;
import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.frame.DropReason;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.port.FrameSink;
import io.vswitch.linux.DirectAddress;
import io.vswitch.linux.ErrnoException;
import io.vswitch.linux.LibC;
import io.vswitch.linux.NativeBuffer;
import io.vswitch.linux.TimerFd;
import io.vswitch.linux.PollableQueue;
import java.io.IOException;
import java.nio.ByteBuffer;
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
 * <p><b>Receive</b> (the datapath thread): the connection is read in large reads into a staging
 * buffer, each complete frame is copied once into a fragment of the queue's {@link FragAllocator}
 * (the length is known from the prefix, so {@code allocate(frame, length)} picks fragment or large
 * buffer up front), and an incomplete tail waits in the staging buffer for the next read. A prefix of
 * zero or over {@link #maxFrameLength()}, or a frame left incomplete for longer than the stall
 * timeout, closes that connection with a counted reason; nothing else is affected.
 *
 * <p><b>Transmit</b> (any datapath thread): the length prefix is written into the frame's headroom
 * right before the Ethernet header (the 4 bytes it covers are restored afterwards, since they may hold
 * a virtio-net header another port still needs), so prefix and frame go out in one {@code send}
 * without a copy. Writes to a connection are serialized; the socket is non-blocking, and when it takes
 * only part of a frame the rest is kept and sent first when the socket has room again (the datapath
 * thread is woken for it), while further frames are dropped as {@link DropReason#TX_BUSY} until then,
 * so the guest always sees whole frames. With no guest connected, transmits drop as
 * {@link DropReason#PORT_DOWN} and {@link #linkUp()} is false.
 */
public final class VmStreamPort extends VmPort {
    /** How long a started frame may wait for its remaining bytes before the connection is dropped. */
    public static final Duration DEFAULT_STALL_TIMEOUT = Duration.ofSeconds(2);
    /** Send buffer asked for on a guest connection (SO_SNDBUFFORCE, else as much as SO_SNDBUF allows). */
    static final int SEND_BUFFER = 1 << 20;

    static final int PREFIX = 4;
    private static final int LISTEN = 1;
    private static final int CONN = 2;
    private static final int TIMER = 3;
    private static final int SO_PEERCRED = 17;
    private static final int STAGING_MIN = 128 * 1024;
    private static final int SEND_FLAGS = LibC.MSG_DONTWAIT | LibC.MSG_NOSIGNAL;
    private static final int TX_BUSY = DropReason.TX_BUSY.ordinal();
    private static final int PORT_DOWN = DropReason.PORT_DOWN.ordinal();
    private static final int TX_ERROR = DropReason.TX_ERROR.ordinal();
    private static final int OVERSIZE = DropReason.OVERSIZE.ordinal();

    private static final LibC LIBC = LibC.INSTANCE;
    private static final LibC SYS = LibC.INSTANCE;
    private static final MemoryIO IO = MemoryIO.getInstance();

    private final long stallNanos;
    private final int sendBuffer;
    private final UnixAddress address;
    private final int listenFd;
    /** The queue's private set (listening socket, guest connection, timer); its fd is what the datapath thread waits on. */
    private final Epoll events;
    private final TimerFd timer;
    private final Queue queue;
    /** The guest's connection, or null; replaced only by the datapath thread (and close). */
    private volatile Connection conn;
    private volatile boolean closed;
    /** Frames the socket took only part of (the rest was kept and sent later); for tests and stats. */
    private volatile long partialSends;

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
            if (SYS.listen(fd, 4) < 0) {
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
        Connection c = conn;
        return c == null ? -1 : c.pid;
    }

    /** How many frames the guest's socket took only in part, the rest following when it had room. */
    public long partialSends() {
        return partialSends;
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
        Connection c = conn;
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

    /** One guest connection: its fd and the unsent tail of a frame the socket took only part of. */
    private static final class Connection {
        final int fd;
        final long pid;
        /** Unsent bytes of the last frame, at [pendingOffset, pendingOffset + pendingLength). */
        final NativeBuffer pending;
        /** epoll_event scratch for switching EPOLLOUT on and off under this connection's lock. */
        final NativeBuffer event = new NativeBuffer(Epoll.EVENT_SIZE);
        int pendingOffset;
        int pendingLength;
        /** Set (under the lock) when EPOLLOUT was asked for; read racily by the datapath thread. */
        volatile boolean waitingForRoom;
        boolean open = true;

        Connection(int fd, long pid, int maxFrame) {
            this.fd = fd;
            this.pid = pid;
            this.pending = new NativeBuffer(PREFIX + maxFrame);
        }

        /** Closes the fd and frees memory; transmitters see {@code open == false} from then on. */
        synchronized void close() {
            if (open) {
                open = false;
                LIBC.close(fd);
                pending.close();
                event.close();
            }
        }
    }

    /** The port's single queue: receive on the datapath thread, transmit from any. */
    private final class Queue implements PollableQueue {
        private final FragAllocator allocator = new FragAllocator(DirectAddress.INSTANCE);
        private final NativeBuffer staging;
        private final int stagingSize;
        private final NativeBuffer peek = new NativeBuffer(16);
        /** Staged bytes not yet turned into frames: [readOffset, writeOffset). */
        private int readOffset;
        private int writeOffset;
        private long lastReadNanos;

        Queue() {
            stagingSize = Math.max(STAGING_MIN, 2 * (PREFIX + maxFrameLength()));
            staging = new NativeBuffer(stagingSize);
        }

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
            Connection c = conn;
            int n = c == null ? 0 : readFrames(c, batch);
            long now = System.nanoTime();
            if (n == 0 || timer.due(now)) {
                serviceEvents(now);
            } else {
                Connection current = conn;
                if (current != null && current.waitingForRoom) {
                    flushFromDatapath(current);
                }
            }
            return n;
        }

        /**
         * Turns staged and newly read bytes into frames until the batch is full or the socket has
         * nothing more; closes the connection on a bad prefix, end of stream or a read error.
         */
        private int readFrames(Connection c, FrameBatch batch) {
            long base = staging.address();
            int n = 0;
            int maxFrame = maxFrameLength();
            boolean drained = false;
            while (true) {
                while (writeOffset - readOffset >= PREFIX) {
                    int length = Integer.reverseBytes(IO.getInt(base + readOffset));
                    if (length == 0) {
                        drop(c, Event.ZERO_LENGTH, "a zero length prefix");
                        return n;
                    }
                    if (length < 0 || length > maxFrame) {
                        drop(c, Event.OVERSIZE_LENGTH, "a length prefix of " + Integer.toUnsignedString(length)
                                + " bytes (this port takes at most " + maxFrame + ")");
                        return n;
                    }
                    if (writeOffset - readOffset - PREFIX < length) {
                        break;
                    }
                    Frame frame = batch.next();
                    if (frame == null) {
                        return n;
                    }
                    if (!allocator.allocate(frame, length)) {
                        // Out of buffers until this batch is released: come back right after.
                        timer.fireAt(System.nanoTime(), System.nanoTime());
                        return n;
                    }
                    IO.copyMemory(base + readOffset + PREFIX, frame.address(), length);
                    batch.commit();
                    n++;
                    readOffset += PREFIX + length;
                }
                if (readOffset == writeOffset) {
                    readOffset = 0;
                    writeOffset = 0;
                } else if (stagingSize - readOffset < PREFIX + maxFrame) {
                    // Move the unfinished frame to the front so a whole one fits behind it. It is shorter
                    // than PREFIX + maxFrame <= stagingSize / 2 < readOffset, so the copy cannot overlap.
                    int kept = writeOffset - readOffset;
                    IO.copyMemory(base + readOffset, base, kept);
                    readOffset = 0;
                    writeOffset = kept;
                }
                if (drained) {
                    break;
                }
                int room = stagingSize - writeOffset;
                long read = LIBC.read(c.fd, base + writeOffset, room);
                if (read > 0) {
                    writeOffset += (int) read;
                    lastReadNanos = System.nanoTime();
                    // A short read emptied the socket: parse, then stop without another read that would
                    // only say EAGAIN (level-triggered epoll reports whatever arrives meanwhile).
                    drained = read < room;
                    continue;
                }
                if (read == 0) {
                    drop(c, Event.PEER_CLOSED, null);
                    return n;
                }
                int errno = LibC.errno();
                if (errno == LibC.EAGAIN) {
                    break;
                }
                if (errno != LibC.EINTR) {
                    drop(c, errno == LibC.ECONNRESET ? Event.PEER_CLOSED : Event.READ_ERROR,
                            errno == LibC.ECONNRESET ? null : new ErrnoException("read", errno).getMessage());
                    return n;
                }
            }
            if (writeOffset > readOffset) {
                // A frame has started but not finished: make sure we look again if nothing more comes.
                timer.fireAt(lastReadNanos + stallNanos, System.nanoTime());
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
                    timer.fired(now, 0);
                    onTimer(now);
                } else if (token == CONN) {
                    Connection c = conn;
                    if (c != null && (events.events(i) & LibC.EPOLLOUT) != 0) {
                        flushFromDatapath(c);
                    }
                } else if (token == LISTEN) {
                    listenReady = true;
                }
            }
            if (listenReady) {
                acceptAll();
            }
        }

        private void onTimer(long now) {
            Connection c = conn;
            if (c == null || writeOffset == readOffset) {
                return;
            }
            if (writeOffset - readOffset >= PREFIX) {
                int length = Integer.reverseBytes(IO.getInt(staging.address() + readOffset));
                if (writeOffset - readOffset - PREFIX >= length) {
                    return; // a whole frame is waiting: the next receive takes it
                }
            }
            long idle = now - lastReadNanos;
            if (idle >= stallNanos) {
                drop(c, Event.STALLED, (writeOffset - readOffset) + " bytes of an unfinished frame and nothing more for "
                        + idle / 1_000_000 + " ms");
            } else {
                timer.fireAt(lastReadNanos + stallNanos, now);
            }
        }

        private void acceptAll() {
            while (true) {
                Connection c = conn;
                if (c != null) {
                    int state = peekState(c);
                    if (state == PEEK_DATA) {
                        return; // read what the owner sent first; the newcomer waits in the backlog
                    }
                    if (state == PEEK_EOF) {
                        // The owner exited (its end was not read yet): the newcomer is its successor.
                        drop(c, Event.PEER_CLOSED, null);
                    }
                }
                int fd = SYS.accept4(listenFd, 0, 0, LibC.SOCK_NONBLOCK | LibC.SOCK_CLOEXEC);
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
                Connection owner = conn;
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
        private int peekState(Connection c) {
            long r = SYS.recv(c.fd, peek.address(), 1, LibC.MSG_PEEK | LibC.MSG_DONTWAIT);
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
            Connection c = new Connection(fd, pid, maxFrameLength());
            try {
                events.add(fd, LibC.EPOLLIN, CONN);
            } catch (ErrnoException e) {
                log().warn("port {}: cannot watch the guest connection: {}", name(), e.getMessage());
                c.close();
                return;
            }
            readOffset = 0;
            writeOffset = 0;
            conn = c;
            counted(Event.CONNECTED);
            log().info("port {}: guest connected (pid {}) on {}; link up", name(), pid, socketPath());
        }

        /** Closes the connection for {@code event}; the link goes down until the next guest connects. */
        private void drop(Connection c, Event event, String detail) {
            conn = null;
            int unfinished = writeOffset - readOffset;
            readOffset = 0;
            writeOffset = 0;
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

        private void flushFromDatapath(Connection c) {
            synchronized (c) {
                if (c.open && c.pendingLength > 0) {
                    flush(c);
                }
                if (c.open && c.pendingLength == 0 && c.waitingForRoom) {
                    watchForRoom(c, false);
                }
            }
        }

        @Override
        public int transmit(Frame frame) {
            Connection c = conn;
            if (c == null) {
                return PORT_DOWN;
            }
            int length = frame.length();
            if (length > maxFrameLength()) {
                return OVERSIZE;
            }
            synchronized (c) {
                if (!c.open) {
                    return PORT_DOWN;
                }
                if (c.pendingLength > 0 && !flush(c)) {
                    return c.open ? TX_BUSY : PORT_DOWN;
                }
                int total = PREFIX + length;
                long at;
                long sent;
                int start = frame.start();
                if (frame.headroom() >= PREFIX) {
                    ByteBuffer b = frame.buffer();
                    int saved = b.getInt(start - PREFIX);
                    b.putInt(start - PREFIX, length); // big-endian, as QEMU reads it
                    at = frame.addressOf(start - PREFIX);
                    sent = SYS.send(c.fd, at, total, SEND_FLAGS);
                    if (sent >= 0 && sent < total) {
                        keepTail(c, at + sent, (int) (total - sent));
                    }
                    b.putInt(start - PREFIX, saved);
                } else {
                    // No room in front of the frame (not the case for frames of our allocators): stage a copy.
                    long p = c.pending.address();
                    IO.putInt(p, Integer.reverseBytes(length));
                    IO.copyMemory(frame.address(), p + PREFIX, length);
                    sent = SYS.send(c.fd, p, total, SEND_FLAGS);
                    if (sent >= 0 && sent < total) {
                        keepTail(c, p + sent, (int) (total - sent));
                    }
                }
                if (sent >= 0) {
                    return FrameSink.SENT;
                }
                return sendError(c, LibC.errno());
            }
        }

        /** Sends the unsent tail; true when nothing is pending any more. Caller holds the lock. */
        private boolean flush(Connection c) {
            long sent = SYS.send(c.fd, c.pending.address() + c.pendingOffset, c.pendingLength, SEND_FLAGS);
            if (sent < 0) {
                int errno = LibC.errno();
                if (errno != LibC.EAGAIN && errno != LibC.EINTR) {
                    c.pendingLength = 0; // the connection is broken; the datapath thread will see its end
                }
                return false;
            }
            c.pendingOffset += (int) sent;
            c.pendingLength -= (int) sent;
            return c.pendingLength == 0;
        }

        private void keepTail(Connection c, long from, int bytes) {
            partialSends++; // under the connection's lock
            IO.copyMemory(from, c.pending.address(), bytes);
            c.pendingOffset = 0;
            c.pendingLength = bytes;
            watchForRoom(c, true);
        }

        private void watchForRoom(Connection c, boolean on) {
            try {
                events.modify(c.fd, on ? LibC.EPOLLIN | LibC.EPOLLOUT : LibC.EPOLLIN, CONN, c.event);
                c.waitingForRoom = on;
            } catch (ErrnoException e) {
                // Only if the fd is already gone; the datapath thread is dropping the connection.
                c.waitingForRoom = false;
            }
        }

        private int sendError(Connection c, int errno) {
            if (errno == LibC.EAGAIN || errno == LibC.ENOBUFS || errno == LibC.EINTR) {
                return TX_BUSY;
            }
            if (errno == LibC.EPIPE || errno == LibC.ECONNRESET || errno == LibC.ENOTCONN) {
                return PORT_DOWN; // the guest is gone; the datapath thread reads its end and drops it
            }
            return TX_ERROR;
        }

        void close() {
            staging.close();
            peek.close();
        }
    }

    // ---- small socket helpers (cold path) ----

    private static void setSendBuffer(int fd, int bytes) {
        try (NativeBuffer value = new NativeBuffer(4)) {
            value.putInt(0, bytes);
            if (SYS.setsockopt(fd, LibC.SOL_SOCKET, LibC.SO_SNDBUFFORCE, value.address(), 4) < 0) {
                SYS.setsockopt(fd, LibC.SOL_SOCKET, LibC.SO_SNDBUF, value.address(), 4);
            }
        }
    }

    private static long peerPid(int fd) {
        try (NativeBuffer cred = new NativeBuffer(16)) {
            cred.putInt(12, 12);
            if (SYS.getsockopt(fd, LibC.SOL_SOCKET, SO_PEERCRED, cred.address(), cred.address() + 12) < 0) {
                return -1;
            }
            return cred.getInt(0);
        }
    }

}
