package io.vswitch.system;

import com.kenai.jffi.MemoryIO;
import io.vswitch.core.alloc.Chunk;
import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.frame.VnetHeader;
import io.vswitch.linux.LibC;
import io.vswitch.linux.NativeBuffer;

/**
 * Reads, with one {@code recvmsg}, a frame the kernel could not fit in a ring slot and queued on the
 * socket instead (a GRO/TSO super-frame or a jumbo frame; its slot is marked TP_STATUS_COPY, see
 * {@link PacketRing}), straight into a fragment of the queue's {@link FragAllocator}.
 *
 * <p><b>Which buffer.</b> The slot tells the frame's length ({@code tp_len}) before it is read. A
 * frame no longer than the port's MTU allows (a jumbo frame: no super-frame) is read into a fragment
 * of exactly that length carved from the queue's chunks, so a batch of jumbo frames is not stopped
 * after the {@link FragAllocator#DEFAULT_MAX_LARGE} large buffers a queue keeps. A longer one, a GRO
 * super-frame, is read as a TAP queue reads: into a 2 KiB fragment with a spare large buffer behind
 * it. Should the frame on the socket be longer than its slot said, the read is truncated (MSG_TRUNC)
 * and counted as oversize, never written past the buffers.
 *
 * <p><b>Where the bytes land.</b> Up to three iovecs: the 10-byte {@code virtio_net_hdr} goes to the
 * first 10 bytes of the 12-byte slot in front of the frame where a TAP's header sits (the
 * {@code num_buffers} field AF_PACKET lacks is simply not written, and nobody reads it), the frame to
 * the fragment, and for a super-frame anything longer than a fragment to a spare large buffer. The
 * frame is then settled as if a 12-byte header had been read with it, so {@link Frame#loadVnetHeader}
 * and the TAP transmit path see the layout they expect. A VLAN tag comes back through PACKET_AUXDATA.
 *
 * <p><b>Errors</b> are per frame and never fatal: a super-frame the kernel cannot describe in a
 * virtio-net header (recvmsg fails with EINVAL, the kernel has already dropped it) and a frame longer
 * than our buffers (MSG_TRUNC) are counted as port events and skipped. A pending ENETDOWN (the kernel
 * sets it on the socket when the interface goes down) comes back before the frame: the port looks at
 * its link and the read is tried again.
 *
 * <p>Owned and used by the queue's datapath thread only; nothing here is shared.
 */
final class CopiedFrameReader implements AutoCloseable {
    /** The frame was read and committed to the batch. */
    static final int READ = 1;
    /** The frame was taken off the socket but dropped (counted). */
    static final int SKIPPED = 0;
    /** No buffer for it: nothing was read, try again once frames were freed. */
    static final int NO_BUFFER = -1;

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

    private final SystemPort port;
    private final int fd;
    private final FragAllocator allocator;
    private final NativeBuffer scratch = new NativeBuffer(SCRATCH);
    private final long msg;

    CopiedFrameReader(SystemPort port, int fd, FragAllocator allocator) {
        this.port = port;
        this.fd = fd;
        this.allocator = allocator;
        this.msg = scratch.address();
        MEMORY.putLong(msg + MSG_IOV, msg + IOV_AT);
        MEMORY.putLong(msg + MSG_CONTROL, msg + CONTROL_AT);
        MEMORY.putLong(msg + IOV_AT + 8, PacketSocket.VNET_HEADER_SIZE);
        MEMORY.putLong(msg + IOV_AT + 2 * IOV_SIZE + 8, FragAllocator.largeOverflowCapacity());
    }

    /**
     * Reads the next queued frame, {@code length} bytes long by its slot, into {@code batch}, whose
     * {@link FrameBatch#next()} must have room.
     *
     * @return {@link #READ}, {@link #SKIPPED} or {@link #NO_BUFFER}
     */
    int read(FrameBatch batch, int length) {
        Frame frame = batch.next();
        Chunk spare = null;
        if (length <= port.maxFrameLength() && length <= allocator.maxReservable()) {
            if (!allocator.reserve(frame, length)) {
                return NO_BUFFER;
            }
        } else if ((spare = allocator.spareLarge()) == null || !allocator.reserve(frame)) {
            return NO_BUFFER;
        }
        long m = msg;
        MEMORY.putLong(m + IOV_AT, frame.address() - VnetHeader.SIZE);
        MEMORY.putLong(m + IOV_AT + IOV_SIZE, frame.address());
        MEMORY.putLong(m + IOV_AT + IOV_SIZE + 8, frame.capacity());
        if (spare != null) {
            MEMORY.putLong(m + IOV_AT + 2 * IOV_SIZE, spare.address() + FragAllocator.LARGE_OVERFLOW_OFFSET);
        }
        MEMORY.putLong(m + MSG_IOVLEN, spare != null ? 3 : 2);
        long read = recvmsg(m);
        if (read < 0) {
            allocator.cancel(frame);
            if (LibC.errno() == LibC.EINVAL) {
                port.counted(SystemPort.Event.BAD_VNET_HEADER);
            } else {
                port.counted(SystemPort.Event.RECEIVE_ERROR);
            }
            return SKIPPED;
        }
        if ((MEMORY.getInt(m + MSG_FLAGS) & LibC.MSG_TRUNC) != 0 || read < PacketSocket.VNET_HEADER_SIZE) {
            allocator.cancel(frame);
            port.counted(SystemPort.Event.RECEIVED_OVERSIZE);
            return SKIPPED;
        }
        // Settled as a read with a 12-byte header (see class doc): length and head copy come out right.
        int asIfTapHeader = VnetHeader.SIZE - PacketSocket.VNET_HEADER_SIZE;
        allocator.completeRead(frame, VnetHeader.SIZE, (int) read + asIfTapHeader, spare);
        frame.loadVnetHeader();
        restoreVlanTag(frame);
        batch.commit();
        return READ;
    }

    /** One recvmsg, again after a pending ENETDOWN (which the kernel reports before the frame and clears). */
    private long recvmsg(long m) {
        MEMORY.putLong(m + MSG_CONTROLLEN, CONTROL_SPACE);
        long read = LIBC.recvmsg(fd, m, LibC.MSG_DONTWAIT);
        if (read < 0 && LibC.errno() == LibC.ENETDOWN) {
            port.checkLink();
            MEMORY.putLong(m + MSG_CONTROLLEN, CONTROL_SPACE);
            read = LIBC.recvmsg(fd, m, LibC.MSG_DONTWAIT);
        }
        return read;
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
        ReceivedVlanTag.restore(frame, MEMORY.getInt(aux + AUX_STATUS),
                MEMORY.getShort(aux + AUX_VLAN_TCI) & 0xffff, MEMORY.getShort(aux + AUX_VLAN_TPID) & 0xffff);
    }

    @Override
    public void close() {
        scratch.close();
    }
}
