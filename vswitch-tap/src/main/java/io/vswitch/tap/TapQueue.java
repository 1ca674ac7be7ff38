package io.vswitch.tap;

import io.vswitch.linux.DirectAddress;
import io.vswitch.linux.LibC;
import io.vswitch.linux.NativeBuffer;
import io.vswitch.linux.PollableQueue;
import io.vswitch.core.alloc.Chunk;
import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.frame.DropReason;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.frame.VnetHeader;
import io.vswitch.core.port.FrameSink;

/**
 * One queue fd of a {@link TapPort}.
 *
 * <p><b>Receive</b> (its datapath thread only): each frame is read with one {@code readv} into a
 * reserved fragment of the queue's {@link FragAllocator}, the virtio-net header landing in the
 * headroom right before the Ethernet header, and anything longer than a fragment (a TSO super-frame)
 * spilling into a spare large buffer; the allocator then settles which of the two the frame lives in.
 * Reads continue until EAGAIN or the batch is full, so a busy queue costs one epoll wakeup per batch.
 * When no large buffer is spare the batch ends early rather than risk truncating a super-frame.
 *
 * <p><b>Transmit</b> (any datapath thread): one {@code write} of vnet header + frame from the frame's
 * own buffer, on a non-blocking fd with unlimited sndbuf, so the kernel takes its
 * {@code tun_build_skb} fast path for small frames; EAGAIN is a counted drop, never a wait.
 */
public final class TapQueue implements PollableQueue {
    private static final LibC LIBC = LibC.INSTANCE;
    private static final int IOVEC = 16;

    private final TapPort port;
    private final int index;
    private final int fd;
    private final FragAllocator allocator = new FragAllocator(DirectAddress.INSTANCE);
    /** Two struct iovecs for readv; owned and touched only by the receiving thread. */
    private final NativeBuffer iov = new NativeBuffer(2L * IOVEC);
    private boolean gone;

    TapQueue(TapPort port, int index, int fd) {
        this.port = port;
        this.index = index;
        this.fd = fd;
    }

    @Override
    public int fd() {
        return fd;
    }

    @Override
    public int index() {
        return index;
    }

    @Override
    public FragAllocator allocator() {
        return allocator;
    }

    @Override
    public int receive(FrameBatch batch) {
        if (gone) {
            return -1;
        }
        long iovAddress = iov.address();
        int n = 0;
        Frame frame;
        while ((frame = batch.next()) != null) {
            Chunk spare = allocator.spareLarge();
            if (spare == null || !allocator.reserve(frame)) {
                break;
            }
            iov.putLong(0, frame.address() - VnetHeader.SIZE);
            iov.putLong(8, VnetHeader.SIZE + frame.capacity());
            iov.putLong(IOVEC, spare.address() + FragAllocator.LARGE_OVERFLOW_OFFSET);
            iov.putLong(IOVEC + 8, FragAllocator.largeOverflowCapacity());
            long read = LIBC.readv(fd, iovAddress, 2);
            if (read < VnetHeader.SIZE) {
                allocator.cancel(frame);
                if (read < 0 && TapDevice.isDeviceGone(LibC.errno())) {
                    gone = true;
                    port.markGone();
                    return n > 0 ? n : -1;
                }
                break;
            }
            allocator.completeRead(frame, VnetHeader.SIZE, (int) read, spare);
            frame.loadVnetHeader();
            batch.commit();
            n++;
        }
        return n;
    }

    @Override
    public int transmit(Frame frame) {
        int at = frame.storeVnetHeader();
        long written = LIBC.write(fd, frame.addressOf(at), frame.length() + VnetHeader.SIZE);
        if (written >= 0) {
            return FrameSink.SENT;
        }
        int errno = LibC.errno();
        if (errno == LibC.EAGAIN) {
            return DropReason.TX_BUSY.ordinal();
        }
        if (TapDevice.isDeviceGone(errno)) {
            port.markGone();
            return DropReason.PORT_DOWN.ordinal();
        }
        if (errno == LibC.EIO) {
            return DropReason.PORT_DOWN.ordinal();
        }
        return DropReason.TX_ERROR.ordinal();
    }

    void close() {
        iov.close();
    }
}
