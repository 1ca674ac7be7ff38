package io.vswitch.vm;

import io.vswitch.linux.Epoll;
import io.vswitch.linux.UnixAddress;
import io.vswitch.core.alloc.Chunk;
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
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A VM port for QEMU's {@code -netdev dgram} (QEMU 7.2+) over unix datagram sockets: vswitch binds
 * {@link #socketPath()}, QEMU binds its own socket ({@link #peerPath()}), and each frame is one
 * datagram sent to the other's path.
 *
 * <p><b>Receive</b> (the datapath thread): one {@code recvmsg} per frame, with the sender's address,
 * straight into a fragment of the queue's {@link FragAllocator} with room for the port's largest
 * frame, carved from its chunks even for a jumbo MTU: the few large buffers would stop a batch of
 * jumbo frames at {@link FragAllocator#DEFAULT_MAX_LARGE}. (Only an MTU whose frames do not fit a
 * chunk reads as a TAP queue does, into a 2 KiB fragment with a spare large buffer behind it.) The
 * unused tail of the fragment goes back at once. Datagrams from any
 * other socket than the QEMU peer are dropped ({@link VmPort.Event#FOREIGN_SENDER}), as are empty ones
 * and ones over {@link #maxFrameLength()}; all counted. (While the peer is up the port's socket is
 * connected to it, and the kernel itself refuses other senders with EPERM.)
 *
 * <p><b>Transmit</b> (any datapath thread): one non-blocking {@code send} of the frame as it is on the
 * socket connected to the peer; a datagram is atomic, so no lock is needed. A full peer queue (unix
 * datagram sockets queue only {@code net.unix.max_dgram_qlen} datagrams, 10 by default) drops as
 * {@link DropReason#TX_BUSY}.
 *
 * <p><b>Link state.</b> There is no connection to lose, so the link is up while a socket is bound at
 * the peer path: checked at open and every {@link #PROBE_INTERVAL} on the datapath thread by
 * connecting the port's socket to the peer path (which sends nothing, and follows a restarted QEMU to
 * its new socket), set up when a frame arrives from the peer and down when a send finds nobody there.
 */
public final class VmDgramPort extends VmPort {
    /** How often the datapath thread checks whether QEMU's socket is (still) there. */
    public static final Duration PROBE_INTERVAL = Duration.ofSeconds(1);
    static final int SEND_BUFFER = 1 << 20;

    private static final int DATA = 1;
    private static final int TIMER = 2;
    private static final int SEND_FLAGS = LibC.MSG_DONTWAIT | LibC.MSG_NOSIGNAL;
    // struct msghdr (LP64): name 0, namelen 8, iov 16, iovlen 24, control 32, controllen 40, flags 48
    private static final int MSG_NAME = 0;
    private static final int MSG_NAMELEN = 8;
    private static final int MSG_IOV = 16;
    private static final int MSG_IOVLEN = 24;
    private static final int MSG_FLAGS = 48;
    private static final int IOV_AT = 64;
    private static final int NAME_AT = 96;
    private static final int SCRATCH = NAME_AT + UnixAddress.SIZE + 2;

    private static final LibC LIBC = LibC.INSTANCE;
    private static final LibC SYS = LibC.INSTANCE;

    private final Path peerPath;
    private final UnixAddress address;
    private final UnixAddress peer;
    /** A sockaddr of family AF_UNSPEC, to disconnect the socket. */
    private final NativeBuffer unspecified = new NativeBuffer(16);
    private final long probeNanos;
    private final int fd;
    /** The queue's private set (the socket and the probe timer); its fd is what the datapath thread waits on. */
    private final Epoll events;
    private final TimerFd probeTimer;
    private final Queue queue;
    private final AtomicBoolean peerUp = new AtomicBoolean();
    private volatile boolean closed;

    private VmDgramPort(String name, Path path, Path peerPath, Integer mtu, Duration probeInterval) throws IOException {
        super(name, path, mtu);
        this.peerPath = peerPath.toAbsolutePath().normalize();
        this.probeNanos = probeInterval.toNanos();
        if (probeNanos <= 0) {
            throw new IllegalArgumentException("probe interval must be positive");
        }
        if (this.peerPath.equals(socketPath())) {
            throw new IllegalArgumentException("--peer must be QEMU's own socket, not the port's: both are " + socketPath());
        }
        this.peer = new UnixAddress(this.peerPath);
        this.address = new UnixAddress(socketPath());
        Epoll ev = null;
        TimerFd tm = null;
        int sock = -1;
        try {
            sock = bindSocket(LibC.SOCK_DGRAM, address);
            try (NativeBuffer value = new NativeBuffer(4)) {
                value.putInt(0, SEND_BUFFER);
                if (SYS.setsockopt(sock, LibC.SOL_SOCKET, LibC.SO_SNDBUFFORCE, value.address(), 4) < 0) {
                    SYS.setsockopt(sock, LibC.SOL_SOCKET, LibC.SO_SNDBUF, value.address(), 4);
                }
                if (SYS.setsockopt(sock, LibC.SOL_SOCKET, LibC.SO_RCVBUFFORCE, value.address(), 4) < 0) {
                    SYS.setsockopt(sock, LibC.SOL_SOCKET, LibC.SO_RCVBUF, value.address(), 4);
                }
            }
            ev = new Epoll(4);
            tm = new TimerFd();
            ev.add(sock, LibC.EPOLLIN, DATA);
            ev.add(tm.fd(), LibC.EPOLLIN, TIMER);
            tm.firePeriodically(probeNanos, System.nanoTime());
        } catch (IOException | RuntimeException e) {
            if (ev != null) {
                ev.close();
            }
            if (tm != null) {
                tm.close();
            }
            if (sock >= 0) {
                LIBC.close(sock);
            }
            removeSocketFile();
            address.close();
            peer.close();
            unspecified.close();
            throw e;
        }
        this.fd = sock;
        this.events = ev;
        this.probeTimer = tm;
        this.queue = new Queue();
        probePeer();
        warnIfShortQueue();
    }

    /** QEMU's socket queues only net.unix.max_dgram_qlen datagrams; say so when that is small. */
    private void warnIfShortQueue() {
        try {
            int qlen = Integer.parseInt(Files.readString(Path.of("/proc/sys/net/unix/max_dgram_qlen")).trim());
            if (qlen < 64) {
                log().warn("port {}: net.unix.max_dgram_qlen is {}: QEMU's socket queues only that many frames, so"
                        + " bursts to the guest will be dropped as tx-busy; raise it (e.g. sysctl -w"
                        + " net.unix.max_dgram_qlen=512) before starting QEMU, or use a vm-stream port", name(), qlen);
            }
        } catch (IOException | RuntimeException e) {
            // not Linux /proc: nothing to say
        }
    }

    /**
     * Binds {@code path} (created; a stale socket file is replaced) and exchanges frames with the QEMU
     * socket bound at {@code peerPath}.
     *
     * @param mtu the guest's MTU, or null for {@value VmPort#DEFAULT_MTU}
     */
    public static VmDgramPort open(String name, Path path, Path peerPath, Integer mtu) throws IOException {
        return open(name, path, peerPath, mtu, PROBE_INTERVAL);
    }

    /** Like {@link #open(String, Path, Path, Integer)} checking the peer every {@code probeInterval}. */
    public static VmDgramPort open(String name, Path path, Path peerPath, Integer mtu, Duration probeInterval)
            throws IOException {
        return new VmDgramPort(name, path, peerPath, mtu, probeInterval);
    }

    /** QEMU's own socket, where frames for the guest are sent (absolute). */
    public Path peerPath() {
        return peerPath;
    }

    @Override
    public String kind() {
        return "vm-dgram";
    }

    @Override
    public PollableQueue queue(int index) {
        if (index != 0) {
            throw new IndexOutOfBoundsException("a VM port has one queue: " + index);
        }
        return queue;
    }

    /** True while a socket is bound at the peer path (QEMU is running). */
    @Override
    public boolean linkUp() {
        return peerUp.get();
    }

    @Override
    public String qemuNetdev() {
        return "dgram,id=" + qemuId() + ",local.type=unix,local.path=" + qemuValue(peerPath)
                + ",remote.type=unix,remote.path=" + qemuValue(socketPath());
    }

    /**
     * Checks now whether QEMU's socket is there, updating {@link #linkUp()}: (re)connects the port's
     * socket to the peer path, which also follows a restarted QEMU to its new socket at the same path.
     * When nobody is there the socket is disconnected again, so a QEMU that starts later can send.
     */
    boolean probePeer() {
        if (SYS.connect(fd, peer.address(), peer.length()) == 0) {
            setPeer(true);
            return true;
        }
        int errno = LibC.errno();
        SYS.connect(fd, unspecified.address(), 2); // AF_UNSPEC: dissolve any association with a dead peer
        if (errno == LibC.EPERM && peerUp.get()) {
            log().warn("port {}: the socket at {} is connected to another socket; cannot reach it", name(), peerPath);
        }
        setPeer(false);
        return false;
    }

    private void setPeer(boolean up) {
        if (peerUp.compareAndSet(!up, up)) {
            counted(up ? Event.PEER_UP : Event.PEER_DOWN);
            if (up) {
                log().info("port {}: QEMU socket {} is there; link up", name(), peerPath);
            } else {
                log().info("port {}: QEMU socket {} is gone; link down", name(), peerPath);
            }
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        peerUp.set(false);
        LIBC.close(fd);
        events.close();
        probeTimer.close();
        queue.close();
        removeSocketFile();
        address.close();
        peer.close();
        unspecified.close();
    }

    private final class Queue implements PollableQueue {
        private final FragAllocator allocator = new FragAllocator(DirectAddress.INSTANCE);
        /** msghdr, two iovecs and the sender's sockaddr_un, for recvmsg; datapath thread only. */
        private final NativeBuffer scratch = new NativeBuffer(SCRATCH);
        /** Whether a fragment can hold the largest frame (see the class doc); if not, reads spill into a large buffer. */
        private final boolean bounded = maxFrameLength() <= allocator.maxReservable();

        Queue() {
            long base = scratch.address();
            scratch.putLong(MSG_NAME, base + NAME_AT);
            scratch.putLong(MSG_IOV, base + IOV_AT);
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
            long msg = scratch.address();
            int maxFrame = maxFrameLength();
            int n = 0;
            Frame frame;
            while ((frame = batch.next()) != null) {
                Chunk spare = null;
                if (!bounded && (spare = allocator.spareLarge()) == null) {
                    break;
                }
                if (!(bounded ? allocator.reserve(frame, maxFrame) : allocator.reserve(frame))) {
                    break;
                }
                scratch.putLong(IOV_AT, frame.address());
                scratch.putLong(IOV_AT + 8, frame.capacity());
                if (spare != null) {
                    scratch.putLong(IOV_AT + 16, spare.address() + FragAllocator.LARGE_OVERFLOW_OFFSET);
                    scratch.putLong(IOV_AT + 24, FragAllocator.largeOverflowCapacity());
                }
                scratch.putLong(MSG_IOVLEN, spare != null ? 2 : 1);
                scratch.putInt(MSG_NAMELEN, UnixAddress.SIZE);
                scratch.putInt(MSG_FLAGS, 0);
                long read = SYS.recvmsg(fd, msg, LibC.MSG_DONTWAIT | LibC.MSG_TRUNC);
                if (read < 0) {
                    allocator.cancel(frame);
                    int errno = LibC.errno();
                    if (errno == LibC.EINTR) {
                        continue;
                    }
                    if (errno != LibC.EAGAIN) {
                        log().warn("port {}: recvmsg failed: {}", name(), new ErrnoException("recvmsg", errno).getMessage());
                    }
                    break;
                }
                if (!peer.sameAs(msg + NAME_AT, scratch.getInt(MSG_NAMELEN))) {
                    allocator.cancel(frame);
                    rejected(Event.FOREIGN_SENDER, "a datagram from another socket than " + peerPath);
                    continue;
                }
                if (read == 0) {
                    allocator.cancel(frame);
                    rejected(Event.EMPTY_DATAGRAM, "an empty datagram");
                    continue;
                }
                if (read > maxFrame || (scratch.getInt(MSG_FLAGS) & LibC.MSG_TRUNC) != 0) {
                    allocator.cancel(frame);
                    rejected(Event.OVERSIZE_DATAGRAM, "a datagram of " + read + " bytes (this port takes at most "
                            + maxFrame + ")");
                    continue;
                }
                allocator.completeRead(frame, 0, (int) read, spare);
                batch.commit();
                n++;
            }
            if (n > 0 && !peerUp.get()) {
                setPeer(true);
            }
            if (n < batch.limit()) {
                serviceTimer();
            }
            return n;
        }

        private void serviceTimer() {
            long now = System.nanoTime();
            if (!probeTimer.due(now)) {
                return;
            }
            int ready = events.await(0);
            for (int i = 0; i < ready; i++) {
                if (events.token(i) == TIMER) {
                    probeTimer.fired();
                    probePeer();
                }
            }
        }

        /** Counts a dropped datagram; logs the 1st, 2nd, 4th, 8th... of each kind. */
        private void rejected(Event event, String what) {
            counted(event);
            long count = count(event);
            if (Long.bitCount(count) == 1) {
                log().warn("port {}: dropped {} [{}; {} so far]", name(), what, event.label(), count);
            }
        }

        @Override
        public int transmit(Frame frame) {
            // No "closed" check here: it could not stop a send racing close(). Port.close() is called only
            // once no thread can be transmitting any more (the daemon waits out a grace period first).
            if (!peerUp.get()) {
                return DropReason.PORT_DOWN.ordinal();
            }
            int length = frame.length();
            if (length > maxFrameLength()) {
                return DropReason.OVERSIZE.ordinal();
            }
            long sent = SYS.send(fd, frame.address(), length, SEND_FLAGS);
            if (sent >= 0) {
                return FrameSink.SENT;
            }
            int errno = LibC.errno();
            if (errno == LibC.EAGAIN || errno == LibC.ENOBUFS || errno == LibC.EINTR) {
                return DropReason.TX_BUSY.ordinal();
            }
            if (errno == LibC.ECONNREFUSED || errno == LibC.ENOENT || errno == LibC.ENOTCONN) {
                setPeer(false);
                return DropReason.PORT_DOWN.ordinal();
            }
            if (errno == LibC.EMSGSIZE) {
                return DropReason.OVERSIZE.ordinal();
            }
            return DropReason.TX_ERROR.ordinal();
        }

        void close() {
            scratch.close();
        }
    }
}
