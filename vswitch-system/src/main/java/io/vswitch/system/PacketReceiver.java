package io.vswitch.system;

import com.kenai.jffi.MemoryIO;
import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.frame.VnetHeader;
import io.vswitch.linux.LibC;
import io.vswitch.linux.NativeBuffer;
import java.lang.invoke.VarHandle;

/**
 * The receive path of one system-port queue: walks the socket's {@link PacketRing} from where it
 * left off, copies each frame the kernel handed over into an exactly sized fragment of the queue's
 * {@link FragAllocator} (the copy recvmsg made in the kernel before), gives the slot back, and stops
 * when the batch is full or the next slot is still the kernel's. No system call per frame or per
 * batch: the datapath thread goes back to epoll when the ring is empty, and the kernel wakes it when
 * it fills a slot.
 *
 * <p><b>Per slot</b> ({@link PacketRing} has the layout): the 10-byte virtio-net header in front of
 * the frame goes to the first 10 bytes of the 12-byte slot in front of the fragment where a TAP's
 * header sits ({@code num_buffers} is not written and nobody reads it), so {@link
 * Frame#loadVnetHeader} and every transmit path see the layout they expect; a VLAN tag the kernel
 * stripped comes back from {@code tp_vlan_tci} ({@link ReceivedVlanTag}). A slot marked
 * TP_STATUS_COPY holds only the head of a frame too big for it; the whole frame waits on the socket
 * and {@link CopiedFrameReader} reads it. A truncated slot without that mark (the socket's receive
 * buffer was full, so the kernel made no copy) is a frame the kernel could not hand over: counted
 * with the kernel's drops below and skipped.
 *
 * <p><b>Drops before the ring</b> (ring full because this thread fell behind, or a super-frame the
 * kernel could not describe in a virtio-net header): the kernel counts them and marks the next slot it
 * fills TP_STATUS_LOSING; only then is PACKET_STATISTICS read (which resets the kernel's count), and
 * the drops are added to the port's {@code rx-kernel-drops} event, as are the truncated slots above.
 *
 * <p><b>Errors</b>: the kernel sets ENETDOWN on the socket when the interface goes down or away and
 * reports it to epoll until it is read; a receive that finds the ring empty reads it (SO_ERROR, one
 * system call, only then) and the port looks at its link; -1 once the interface is gone for good.
 *
 * <p><b>Measured</b> ({@code PacketPathBenchmark.receive}: 1024 queued 60-byte frames drained from a
 * veth, time of the reading thread per frame; 2-core VM, kernel 6.18, other jobs running, so errors
 * are wide):
 * <pre>
 *   recvmsg per frame (before this ring)     1.80 us +- 1.20
 *   recvmmsg, 64 per call                    1.60 us +- 0.58
 *   TPACKET_V3 ring, copied into fragments   0.03 us +- 0.01
 * </pre>
 * and, old and new queue interleaved, two runs each, load average 12-15 ({@code java -jar
 * vswitch-benchmarks/target/benchmarks.jar PacketPathBenchmark.receive -p rx=queue -p tx=writev-bypass
 * -wi 2 -i 4 -f 1}, {@code rx=recvmsg} in the tree before the ring): this V2 ring 0.19 and 0.09 us
 * (errors +- 1.5 and +- 0.25), recvmsg 1.80 and 2.03 us (+- 1.0 and +- 1.8). As with V3, the kernel's
 * copy into the slot moves to softirq (on a real NIC another CPU's), out of this thread. V3 is not
 * used because a block reaches user space only when full or after its retire timer (1 ms at least);
 * a V2 slot is handed over at once (see {@link PacketRing}).
 *
 * <p>Owned and used by the queue's datapath thread only; the slots it holds (TP_STATUS_USER) are its
 * own until it writes TP_STATUS_KERNEL back, after a release fence so the kernel never overwrites a
 * slot this thread is still copying from.
 */
final class PacketReceiver implements AutoCloseable {
    private static final LibC LIBC = LibC.INSTANCE;
    private static final MemoryIO MEMORY = MemoryIO.getInstance();
    private static final int SO_ERROR = 4;
    /** Scratch: struct tpacket_stats (packets, drops) or an int for SO_ERROR, then the option length. */
    private static final int STATS_DROPS = 4;
    private static final int OPTION_LENGTH = 8;

    private final SystemPort port;
    private final int fd;
    private final FragAllocator allocator;
    private final PacketRing ring;
    private final CopiedFrameReader copies;
    private final NativeBuffer scratch = new NativeBuffer(16);
    /** Next slot to look at; the kernel fills the slots in the same order. */
    private int head;

    PacketReceiver(SystemPort port, int fd, FragAllocator allocator, PacketRing ring) {
        this.port = port;
        this.fd = fd;
        this.allocator = allocator;
        this.ring = ring;
        this.copies = new CopiedFrameReader(port, fd, allocator);
    }

    /** Takes the frames the kernel handed over into {@code batch}; -1 once the interface is gone for good. */
    int receive(FrameBatch batch) {
        if (port.gone()) {
            return -1;
        }
        int n = 0;
        while (batch.next() != null) {
            long slot = ring.slot(head);
            int status = MEMORY.getInt(slot + PacketRing.TP_STATUS);
            if ((status & PacketRing.TP_STATUS_USER) == 0) {
                break;
            }
            VarHandle.acquireFence(); // the slot's contents are read only after its status said USER
            if ((status & PacketRing.TP_STATUS_LOSING) != 0) {
                collectDrops();
            }
            int taken = (status & PacketRing.TP_STATUS_COPY) != 0
                    ? copies.read(batch, MEMORY.getInt(slot + PacketRing.TP_LEN)) : copy(slot, status, batch);
            if (taken == CopiedFrameReader.NO_BUFFER) {
                break; // the slot stays ours; taken again once frames were freed
            }
            n += taken;
            VarHandle.releaseFence(); // the copy out of the slot is done before the kernel may refill it
            MEMORY.putInt(slot + PacketRing.TP_STATUS, PacketRing.TP_STATUS_KERNEL);
            head = head + 1 == PacketRing.SLOTS ? 0 : head + 1;
        }
        return n == 0 ? collectError() : n;
    }

    /** Copies the frame of {@code slot} into a fragment and commits it to the batch. */
    private int copy(long slot, int status, FrameBatch batch) {
        int length = MEMORY.getInt(slot + PacketRing.TP_SNAPLEN);
        if (length != MEMORY.getInt(slot + PacketRing.TP_LEN)) {
            port.counted(SystemPort.Event.KERNEL_DROPS);
            return CopiedFrameReader.SKIPPED;
        }
        Frame frame = batch.next();
        // A fragment of the frame's length even where that is over 2 KiB (a slot holds up to 1972
        // bytes): allocate() would give such a frame one of the queue's few large buffers.
        if (!allocator.reserve(frame, length)) {
            return CopiedFrameReader.NO_BUFFER;
        }
        frame.setLength(length);
        long mac = slot + (MEMORY.getShort(slot + PacketRing.TP_MAC) & 0xffff);
        long header = frame.address() - VnetHeader.SIZE;
        MEMORY.putLong(header, MEMORY.getLong(mac - PacketSocket.VNET_HEADER_SIZE));
        MEMORY.putShort(header + 8, MEMORY.getShort(mac - PacketSocket.VNET_HEADER_SIZE + 8));
        MEMORY.copyMemory(mac, frame.address(), length);
        frame.loadVnetHeader();
        ReceivedVlanTag.restore(frame, status, MEMORY.getShort(slot + PacketRing.TP_VLAN_TCI) & 0xffff,
                MEMORY.getShort(slot + PacketRing.TP_VLAN_TPID) & 0xffff);
        batch.commit();
        return CopiedFrameReader.READ;
    }

    /** Reads (and so resets) the kernel's drop count of this socket into the port's events. */
    private void collectDrops() {
        long s = scratch.address();
        MEMORY.putInt(s + OPTION_LENGTH, 8);
        if (LIBC.getsockopt(fd, PacketSocket.SOL_PACKET, PacketRing.PACKET_STATISTICS, s, s + OPTION_LENGTH) == 0) {
            port.counted(SystemPort.Event.KERNEL_DROPS, MEMORY.getInt(s + STATS_DROPS) & 0xffffffffL);
        }
    }

    /** Reads a pending socket error (see class doc): 0, or -1 if the interface is gone. */
    private int collectError() {
        long s = scratch.address();
        MEMORY.putInt(s + OPTION_LENGTH, 4);
        if (LIBC.getsockopt(fd, LibC.SOL_SOCKET, SO_ERROR, s, s + OPTION_LENGTH) == 0 && MEMORY.getInt(s) != 0) {
            port.checkLink();
            return port.gone() ? -1 : 0;
        }
        return 0;
    }

    @Override
    public void close() {
        copies.close();
        scratch.close();
    }
}
