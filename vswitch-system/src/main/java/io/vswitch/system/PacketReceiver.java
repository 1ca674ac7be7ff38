package io.vswitch.system;

import com.kenai.jffi.MemoryIO;
import io.vswitch.core.alloc.Chunk;
import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.frame.VnetHeader;
import io.vswitch.linux.LibC;
import io.vswitch.linux.NativeBuffer;
import java.nio.ByteBuffer;

/**
 * The receive path of one system-port queue: one {@code recvmsg} per frame straight into a reserved
 * fragment of the queue's {@link FragAllocator}, as a TAP queue reads, until EAGAIN or the batch is
 * full (so a busy queue costs one epoll wakeup per batch).
 *
 * <p><b>Where the bytes land.</b> Three iovecs: the 10-byte {@code virtio_net_hdr} goes to the first
 * 10 bytes of the 12-byte slot in front of the frame where a TAP's header sits (the
 * {@code num_buffers} field AF_PACKET lacks is simply not written, and nobody reads it), the frame to
 * the fragment, and anything longer than a fragment (a GRO/TSO super-frame) to a spare large buffer.
 * The frame is then settled as if a 12-byte header had been read with it, so {@link Frame#loadVnetHeader}
 * and the TAP transmit path see the layout they expect.
 *
 * <p><b>VLAN tags.</b> The kernel strips a received frame's 802.1Q tag before packet sockets see it;
 * PACKET_AUXDATA hands it back in a control message and it is put back here (four bytes into the
 * headroom), so trunks work as on every other port.
 *
 * <p><b>Errors</b> are per frame and never fatal: a super-frame the kernel cannot describe in a
 * virtio-net header (recvmsg fails with EINVAL, the kernel has already dropped it) and a frame longer
 * than our buffers (MSG_TRUNC) are counted as port events and skipped; ENETDOWN (the interface went
 * down or away) ends the batch and asks the port to look at its link.
 *
 * <p><b>Why recvmsg, measured</b> ({@code PacketPathBenchmark.receive}: 1024 queued 60-byte frames
 * drained from a veth, time of the reading thread per frame; 2-core VM, kernel 6.18, load average
 * 9-13 from other jobs, so errors are wide):
 * <pre>
 *   recvmsg per frame (this class)           1.80 us +- 1.20
 *   recvmmsg, 64 per call                    1.60 us +- 0.58
 *   TPACKET_V3 ring, copied into fragments   0.03 us +- 0.01
 * </pre>
 * recvmmsg saves only the syscall entry (the kernel does the same per-frame work inside) and, to stay
 * safe for super-frames, would need a spare large buffer per message where the allocator has one.
 * The V3 ring is far cheaper for this thread (the kernel's copy moves into softirq, which on a real NIC
 * is another CPU) but is not used: a V3 block reaches user space only when it is full or its retire
 * timer ({@code tp_retire_blk_tov}, 1 ms at the least) fires, so a lone frame waits up to a millisecond,
 * four times the whole round trip through the switch (0.23 ms in {@code bench/system-bench}); and a V2
 * ring, which hands over every frame at once, has fixed slots that must each hold a 64 KiB
 * super-frame, so a 4 MiB ring holds only ~60 frames of any size. Not chosen by measurement of the
 * latency itself: that is the kernel's documented V3 behaviour.
 *
 * <p>Owned and used by the queue's datapath thread only; nothing here is shared.
 */
final class PacketReceiver implements AutoCloseable {
    private static final LibC LIBC = LibC.INSTANCE;
    private static final MemoryIO MEMORY = MemoryIO.getInstance();

    // struct msghdr (LP64): name 0, namelen 8, iov 16, iovlen 24, control 32, controllen 40, flags 48
    private static final int MSG_IOV = 16;
    private static final int MSG_IOVLEN = 24;
    private static final int MSG_CONTROL = 32;
    private static final int MSG_CONTROLLEN = 40;
    private static final int MSG_FLAGS = 48;
    private static final int IOV_AT = 64;
    private static final int IOV_SIZE = 16;
    /** One cmsghdr (len 8, level 4, type 4) and a struct tpacket_auxdata (20 bytes), 8-aligned. */
    private static final int CONTROL_AT = IOV_AT + 3 * IOV_SIZE;
    private static final int CONTROL_SPACE = 40;
    private static final int CMSG_LEVEL = 8;
    private static final int CMSG_TYPE = 12;
    private static final int CMSG_DATA = 16;
    private static final int AUX_STATUS = 0;
    private static final int AUX_VLAN_TCI = 16;
    private static final int AUX_VLAN_TPID = 18;
    private static final int AUXDATA_END = CMSG_DATA + 20;
    private static final int SCRATCH = CONTROL_AT + CONTROL_SPACE;

    private static final int TP_STATUS_VLAN_VALID = 1 << 4;
    private static final int TP_STATUS_VLAN_TPID_VALID = 1 << 6;
    private static final int TPID_8021Q = 0x8100;
    private static final int VLAN_TAG = 4;
    private static final int MAC_HEADER_PAIR = 12;

    private final SystemPort port;
    private final int fd;
    private final FragAllocator allocator;
    private final NativeBuffer scratch = new NativeBuffer(SCRATCH);
    private final long msg;

    PacketReceiver(SystemPort port, int fd, FragAllocator allocator) {
        this.port = port;
        this.fd = fd;
        this.allocator = allocator;
        this.msg = scratch.address();
        MEMORY.putLong(msg + MSG_IOV, msg + IOV_AT);
        MEMORY.putLong(msg + MSG_IOVLEN, 3);
        MEMORY.putLong(msg + MSG_CONTROL, msg + CONTROL_AT);
        MEMORY.putLong(msg + IOV_AT + 8, PacketSocket.VNET_HEADER_SIZE);
        MEMORY.putLong(msg + IOV_AT + 2 * IOV_SIZE + 8, FragAllocator.largeOverflowCapacity());
    }

    /** Reads ready frames into {@code batch}; -1 once the interface is gone for good (see class doc). */
    int receive(FrameBatch batch) {
        if (port.gone()) {
            return -1;
        }
        int n = 0;
        Frame frame;
        while ((frame = batch.next()) != null) {
            Chunk spare = allocator.spareLarge();
            if (spare == null || !allocator.reserve(frame)) {
                break;
            }
            long m = msg;
            MEMORY.putLong(m + IOV_AT, frame.address() - VnetHeader.SIZE);
            MEMORY.putLong(m + IOV_AT + IOV_SIZE, frame.address());
            MEMORY.putLong(m + IOV_AT + IOV_SIZE + 8, frame.capacity());
            MEMORY.putLong(m + IOV_AT + 2 * IOV_SIZE, spare.address() + FragAllocator.LARGE_OVERFLOW_OFFSET);
            MEMORY.putLong(m + MSG_CONTROLLEN, CONTROL_SPACE);
            long read = LIBC.recvmsg(fd, m, 0);
            if (read < 0) {
                allocator.cancel(frame);
                int errno = LibC.errno();
                if (errno == LibC.EAGAIN) {
                    break;
                }
                if (errno == LibC.EINVAL) {
                    port.counted(SystemPort.Event.BAD_VNET_HEADER);
                    continue;
                }
                if (errno == LibC.ENETDOWN) {
                    port.checkLink();
                    return n == 0 && port.gone() ? -1 : n;
                }
                port.counted(SystemPort.Event.RECEIVE_ERROR);
                break;
            }
            if ((MEMORY.getInt(m + MSG_FLAGS) & LibC.MSG_TRUNC) != 0 || read < PacketSocket.VNET_HEADER_SIZE) {
                allocator.cancel(frame);
                port.counted(SystemPort.Event.RECEIVED_OVERSIZE);
                continue;
            }
            // Settled as a read with a 12-byte header (see class doc): length and head copy come out right.
            int asIfTapHeader = VnetHeader.SIZE - PacketSocket.VNET_HEADER_SIZE;
            allocator.completeRead(frame, VnetHeader.SIZE, (int) read + asIfTapHeader, spare);
            frame.loadVnetHeader();
            restoreVlanTag(frame);
            batch.commit();
            n++;
        }
        return n;
    }

    /** Puts back the 802.1Q tag the kernel moved into the auxdata, if it did. */
    private void restoreVlanTag(Frame frame) {
        long m = msg;
        if (MEMORY.getLong(m + MSG_CONTROLLEN) < AUXDATA_END) {
            return;
        }
        long cmsg = m + CONTROL_AT;
        if (MEMORY.getInt(cmsg + CMSG_LEVEL) != PacketSocket.SOL_PACKET
                || MEMORY.getInt(cmsg + CMSG_TYPE) != PacketSocket.PACKET_AUXDATA) {
            return;
        }
        long aux = cmsg + CMSG_DATA;
        int status = MEMORY.getInt(aux + AUX_STATUS);
        if ((status & TP_STATUS_VLAN_VALID) == 0 || frame.length() < MAC_HEADER_PAIR) {
            return;
        }
        int tci = MEMORY.getShort(aux + AUX_VLAN_TCI) & 0xffff;
        int tpid = (status & TP_STATUS_VLAN_TPID_VALID) != 0 ? MEMORY.getShort(aux + AUX_VLAN_TPID) & 0xffff : TPID_8021Q;
        frame.moveStart(-VLAN_TAG);
        ByteBuffer b = frame.buffer();
        int at = frame.start();
        long macs = b.getLong(at + VLAN_TAG);
        int macsTail = b.getInt(at + VLAN_TAG + 8);
        b.putLong(at, macs);
        b.putInt(at + 8, macsTail);
        b.putShort(at + MAC_HEADER_PAIR, (short) tpid);
        b.putShort(at + MAC_HEADER_PAIR + 2, (short) tci);
        frame.shiftOffloadOffsets(VLAN_TAG);
    }

    @Override
    public void close() {
        scratch.close();
    }
}
