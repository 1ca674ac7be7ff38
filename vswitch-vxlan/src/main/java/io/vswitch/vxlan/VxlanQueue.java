package io.vswitch.vxlan;

import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.fdb.Fdb;
import io.vswitch.core.frame.DropReason;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.port.BatchSink;
import io.vswitch.core.port.FrameSink;
import io.vswitch.core.port.Port;
import io.vswitch.core.port.SharedReceiveQueue;
import io.vswitch.linux.DirectAddress;
import io.vswitch.linux.ErrnoException;
import io.vswitch.linux.LibC;
import io.vswitch.linux.NativeBuffer;
import io.vswitch.linux.PollableQueue;
import java.nio.ByteBuffer;
import java.util.Arrays;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one queue of a {@link VxlanPort}: encapsulation and sending for any datapath thread, and, while the
 * port leads its {@link VxlanSocket}, receiving for every port on that socket.
 *
 * <p><b>Receive</b> (the leader's datapath thread): one {@code recvmmsg} reads up to a batch of datagrams,
 * each straight into a fragment of this queue's {@link FragAllocator}, placed so that the 8-byte VXLAN
 * header lands in the headroom and the inner Ethernet frame exactly at the frame's start: decapsulation
 * moves nothing. The fragments have room for the longest frame any port on the socket accepts
 * ({@link VxlanSocket#receiveLimit()}: 2 KiB, or 9 KiB on a jumbo underlay); a longer datagram is
 * truncated by the kernel and dropped as {@link VxlanDrop#OVERSIZE}. Each datagram is checked (length, flags, VNI, source VTEP), the inner source MAC is
 * learned with its VTEP on the port of its VNI, and {@link #receiver(int)} tells the datapath thread
 * which port's ingress takes it. Bad ones are released and counted as a {@link VxlanDrop}.
 *
 * <p><b>Transmit</b> (any thread, no lock, no allocation): the 8-byte VXLAN header is written in the
 * headroom in front of the inner frame, and one datagram per VTEP (the VXLAN header and frame straight
 * from the frame's buffer) is queued in the thread's {@link VxlanSendBatch}, for the sender socket of
 * the frame's flow ({@link VxlanSocket#senderFor}). One {@code sendmmsg} sends the batch (not
 * {@code sendto}, whose six arguments jnr-ffi's fast invoker mangles: strace showed the sixth, addrlen,
 * as garbage). As a {@link BatchSink} the queue takes all segments of a TCP super-frame from the
 * {@link io.vswitch.core.gso.Segmenter} at once, and where the socket checksums they leave as one UDP
 * GSO message: one system call and one trip through the kernel's IP output per super-frame. The
 * kernel writes the UDP and IP headers. The 8 bytes the VXLAN header overwrote are put back
 * afterwards, because a flooded frame may still need a virtio-net header there for the next port.
 *
 * <p><b>Why not Netty's epoll datagram transport.</b> It reads into and writes from its own
 * {@code ByteBuf}s: receiving into our fragment allocator would mean a copy per datagram (or wrapping
 * each fragment in a {@code ByteBuf}, an object per datagram), and {@code DatagramPacket} is itself an
 * object per datagram on both paths. Its channels also want their own event loop thread, while our
 * datapath threads run every port to completion on one epoll wait, and it cannot pass UDP GSO
 * control messages with our own buffers. The same {@link LibC} binding the TAP and VM ports use does
 * all of it with primitive calls and 0 B per datagram (see {@code VxlanAllocationTest}).
 */
public final class VxlanQueue implements SharedReceiveQueue, PollableQueue, BatchSink {
    private static final Logger LOG = LoggerFactory.getLogger(VxlanQueue.class);
    /**
     * Largest inner frame (Ethernet header included) a port takes: the 9216-byte jumbo frame of
     * data-centre switches, room for the 8950-byte inner MTU of an MTU-9000 underlay. A received one
     * (with an 802.1Q tag) still fits a fragment carved from a 64 KiB chunk, seven to a chunk.
     */
    public static final int MAX_INNER_FRAME = 9216;
    private static final long MULTICAST_BIT = 0x0100_0000_0000L;

    // struct mmsghdr (LP64): msghdr {name 0, namelen 8, iov 16, iovlen 24, control 32, controllen 40, flags 48}, msg_len 56
    private static final int MMSG = 64;
    private static final int MSG_NAMELEN = 8;
    private static final int MSG_FLAGS = 48;
    private static final int MSG_LEN = 56;
    private static final int IOV = 16;
    private static final int NAME = 32;

    private static final LibC LIBC = LibC.INSTANCE;
    /** The datagrams of this thread's sends: any datapath thread transmits, each with its own. */
    private static final ThreadLocal<VxlanSendBatch> SEND_BATCH = ThreadLocal.withInitial(VxlanSendBatch::new);

    private final VxlanPort port;
    private final FragAllocator allocator = new FragAllocator(DirectAddress.INSTANCE);
    private final int epfd;
    private final int batch = FrameBatch.DEFAULT_CAPACITY;
    /** mmsghdrs, iovecs and source sockaddrs for recvmmsg; the leader's datapath thread only. */
    private final NativeBuffer scratch;
    private final long mmsgs;
    private final long iovs;
    private final long names;
    /** The port each frame of the last received batch is for; the receiving thread only. */
    private final Port[] receivers;
    private final NativeBuffer watchEvent = new NativeBuffer(16);
    private VxlanSocket socket;
    /** Largest datagram payload (VXLAN header + frame) the underlay carries unfragmented. */
    private int gsoLimit;
    private volatile boolean leading;

    VxlanQueue(VxlanPort port) throws ErrnoException {
        this.port = port;
        this.epfd = LIBC.epoll_create1(LibC.EPOLL_CLOEXEC);
        if (epfd < 0) {
            watchEvent.close();
            throw ErrnoException.last("epoll_create1");
        }
        this.receivers = new Port[batch];
        this.scratch = new NativeBuffer((long) batch * (MMSG + IOV + NAME));
        this.mmsgs = scratch.address();
        this.iovs = mmsgs + (long) batch * MMSG;
        this.names = iovs + (long) batch * IOV;
        for (int i = 0; i < batch; i++) {
            long m = mmsgs + (long) i * MMSG;
            scratch.putLong(m - mmsgs, names + (long) i * NAME);
            scratch.putLong(m - mmsgs + 16, iovs + (long) i * IOV);
            scratch.putLong(m - mmsgs + 24, 1);
        }
    }

    /** Binds the queue to its port's socket once the port joined it (before any frame flows). */
    void attach(VxlanSocket joined) {
        VxlanSettings s = port.settings();
        this.gsoLimit = joined.underlayMtu - s.local().ipHeaderLength() - VxlanHeader.UDP_LENGTH;
        this.socket = joined;
    }

    /** Makes this queue the socket's reader: its epoll fd reports the UDP socket (control thread). */
    void watch(int udpFd) throws ErrnoException {
        watchEvent.putInt(0, LibC.EPOLLIN);
        if (LIBC.epoll_ctl(epfd, LibC.EPOLL_CTL_ADD, udpFd, watchEvent.address()) < 0) {
            throw ErrnoException.last("epoll_ctl(vxlan socket)");
        }
        leading = true;
    }

    /** An epoll fd that holds the shared UDP socket while this port leads, and nothing otherwise. */
    @Override
    public int fd() {
        return epfd;
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
    public Port receiver(int index) {
        return receivers[index];
    }

    // ---- receive ----

    @Override
    public int receive(FrameBatch frames) {
        if (port.closed()) {
            return -1;
        }
        if (!leading) {
            return 0;
        }
        int first = frames.count();
        int room = Math.min(frames.capacity() - first, batch);
        int limit = socket.receiveLimit();
        int reserved = 0;
        while (reserved < room && allocator.reserve(frames.get(first + reserved), limit)) {
            Frame f = frames.get(first + reserved);
            long iov = iovs + (long) reserved * IOV;
            scratch.putLong(iov - mmsgs, f.address() - VxlanHeader.LENGTH);
            scratch.putLong(iov - mmsgs + 8, limit + VxlanHeader.LENGTH);
            long m = (long) reserved * MMSG;
            scratch.putInt(m + MSG_NAMELEN, NAME);
            scratch.putInt(m + MSG_FLAGS, 0);
            reserved++;
        }
        if (reserved == 0) {
            return 0;
        }
        int got = LIBC.recvmmsg(socket.udpFd, mmsgs, reserved, LibC.MSG_DONTWAIT, 0);
        if (got < 0) {
            int errno = LibC.errno();
            if (errno != LibC.EAGAIN && errno != LibC.EINTR) {
                LOG.warn("port {}: recvmmsg failed: {}", port.name(), new ErrnoException("recvmmsg", errno).getMessage());
            }
            got = 0;
        }
        for (int i = reserved - 1; i >= got; i--) {
            allocator.cancel(frames.get(first + i)); // last carved first, so every fragment goes back
        }
        long now = System.nanoTime();
        int kept = first;
        for (int i = 0; i < got; i++) {
            int at = first + i;
            Frame f = frames.get(at);
            long m = (long) i * MMSG;
            VxlanPort target = accept(f, scratch.getInt(m + MSG_LEN), scratch.getInt(m + MSG_FLAGS), names + (long) i * NAME, now);
            if (target == null) {
                f.release();
                continue;
            }
            frames.swap(kept, at);
            receivers[kept] = target;
            frames.commit();
            kept++;
            if (i == got - 1) {
                allocator.trim(f); // the last fragment carved: a short datagram leaves the rest of a jumbo slot to the next read
            }
        }
        return kept - first;
    }

    /**
     * Checks one received datagram (VXLAN header and inner frame, {@code length} bytes) and sets the
     * frame's length to the inner frame's. Learns the inner source MAC with its VTEP.
     *
     * @return the port it is for, or null when it is dropped (counted)
     */
    private VxlanPort accept(Frame f, int length, int msgFlags, long from, long now) {
        if ((msgFlags & LibC.MSG_TRUNC) != 0) {
            socket.dropped(VxlanDrop.OVERSIZE);
            return null;
        }
        if (length < VxlanHeader.LENGTH + 14) {
            socket.dropped(VxlanDrop.TRUNCATED);
            return null;
        }
        int vni = VxlanHeader.vni(f.buffer(), f.start() - VxlanHeader.LENGTH, length);
        if (vni < 0) {
            socket.dropped(vni == VxlanHeader.NO_I_FLAG ? VxlanDrop.I_FLAG_MISSING : VxlanDrop.RESERVED_BITS);
            return null;
        }
        VxlanPort target = socket.portFor(vni);
        if (target == null) {
            socket.dropped(VxlanDrop.UNKNOWN_VNI);
            return null;
        }
        RemoteTable vteps = target.remotes();
        int vtep = vteps.find(from);
        if (vtep < 0) {
            if (!vteps.learnsAny()) {
                target.dropped(VxlanDrop.UNKNOWN_VTEP);
                return null;
            }
            vtep = vteps.learn(from);
            if (vtep < 0) {
                target.dropped(VxlanDrop.VTEP_TABLE_FULL);
                return null;
            }
        }
        f.setLength(length - VxlanHeader.LENGTH);
        long src = f.srcMac();
        if ((src & MULTICAST_BIT) == 0 && src != 0) {
            target.macs().learn(0, src, vtep, now);
        }
        return target;
    }

    // ---- transmit ----

    /**
     * Encapsulates {@code frame} and sends it to the VTEP of its destination MAC, or to every VTEP.
     * The frame is borrowed: its bytes are as before when this returns.
     *
     * @return {@link FrameSink#SENT} if it went to at least one VTEP, else the drop reason of the last failure
     */
    @Override
    public int transmit(Frame frame) {
        VxlanSendBatch batch = SEND_BATCH.get();
        transmit(batch, frame, batch.single);
        return batch.single[0];
    }

    @Override
    public int batchCapacity() {
        return VxlanSendBatch.CAPACITY;
    }

    /**
     * Like {@link #transmit(Frame)} for several frames (the segments of a super-frame, or a receive
     * batch's frames of mixed flows from the bridge), sent with one {@code sendmmsg} per sender socket
     * run and per {@value VxlanSendBatch#CAPACITY} datagrams.
     */
    @Override
    public void transmit(Frame[] frames, int count, int[] results) {
        VxlanSendBatch batch = SEND_BATCH.get();
        VxlanSocket s = socket;
        if (port.closed() || s == null) {
            Arrays.fill(results, 0, count, DropReason.PORT_DOWN.ordinal());
            return;
        }
        for (int i = 0; i < count; i++) {
            enqueue(batch, s, frames[i], i, results);
        }
        batch.send(results);
        for (int i = 0; i < count; i++) {
            restore(batch, frames[i], i, results);
        }
    }

    private void transmit(VxlanSendBatch batch, Frame frame, int[] results) {
        VxlanSocket s = socket;
        if (port.closed() || s == null) {
            results[0] = DropReason.PORT_DOWN.ordinal();
            return;
        }
        enqueue(batch, s, frame, 0, results);
        batch.send(results);
        restore(batch, frame, 0, results);
    }

    /**
     * Writes the VXLAN header into {@code frame}'s headroom (saving what was there) and queues one
     * datagram per VTEP it goes to; {@code results[index]} gets the reason if it cannot be sent at all.
     */
    private void enqueue(VxlanSendBatch batch, VxlanSocket s, Frame frame, int index, int[] results) {
        batch.stamped[index] = false;
        int length = frame.length();
        if (length > port.maxFrameLength()) {
            results[index] = DropReason.TOO_BIG_FOR_TUNNEL.ordinal();
            return;
        }
        if (frame.headroom() < VxlanHeader.LENGTH) {
            results[index] = DropReason.INTERNAL_ERROR.ordinal();
            return;
        }
        ByteBuffer b = frame.buffer();
        int at = frame.start() - VxlanHeader.LENGTH;
        batch.saved[index] = b.getLong(at);
        batch.stamped[index] = true;
        VxlanHeader.write(b, at, port.vni());
        results[index] = DropReason.NO_OUTPUT.ordinal();
        int dataLength = length + VxlanHeader.LENGTH;
        long data = frame.addressOf(at);
        int fd = s.senderFor(frame.flowHash());
        // UDP GSO wants every datagram but the last to fit the path MTU unfragmented.
        boolean gso = s.gso && dataLength <= gsoLimit;
        RemoteTable vteps = port.remotes();
        long dst = frame.dstMac();
        int vtep = (dst & MULTICAST_BIT) == 0 ? port.macs().lookup(0, dst) : Fdb.NO_PORT;
        int first = vtep == Fdb.NO_PORT ? 0 : vtep;
        int end = vtep == Fdb.NO_PORT ? vteps.count() : vtep + 1;
        for (int i = first; i < end; i++) {
            batch.add(fd, results, index, data, dataLength, vteps.sockaddr(i), vteps.sockaddrLength(), gso);
        }
    }

    /** Puts back the headroom bytes {@link #enqueue} overwrote (a flooded frame may go to more ports). */
    private static void restore(VxlanSendBatch batch, Frame frame, int index, int[] results) {
        if (batch.stamped[index]) {
            frame.buffer().putLong(frame.start() - VxlanHeader.LENGTH, batch.saved[index]);
        }
    }

    /** Frees the epoll fd and receive scratch; after the port left its socket and its thread stopped. */
    void close() {
        leading = false;
        LIBC.close(epfd);
        scratch.close();
        watchEvent.close();
    }
}
