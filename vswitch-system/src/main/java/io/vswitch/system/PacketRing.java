package io.vswitch.system;

import io.vswitch.linux.ErrnoException;
import io.vswitch.linux.LibC;
import io.vswitch.linux.NativeBuffer;

/**
 * The {@code TPACKET_V2} receive ring of one system-port socket (cold path: set up once per queue,
 * unmapped once): {@value #SLOTS} slots of {@value #SLOT_SIZE} bytes that the kernel fills in
 * softirq and hands over one by one, each the moment it is written.
 *
 * <p><b>Why V2 and not V3.</b> A V3 block reaches user space only when it is full or after its
 * retire timer (1 ms at the least), so a lone frame would wait up to a millisecond. A V2 slot is
 * {@link #TP_STATUS_USER} as soon as its frame is in, so a ping or a TCP ACK costs no more than
 * with recvmsg.
 *
 * <p><b>Slot layout</b> ({@code tpacket_rcv} in net/packet/af_packet.c): a {@code struct
 * tpacket2_hdr} at the slot start, the 10-byte {@code virtio_net_hdr} (PACKET_VNET_HDR) right before
 * the frame, the frame at {@code tp_mac}. A 1514-byte frame starts at offset 76, so every frame of a
 * 1500-byte MTU fits a 2 KiB slot; the kernel strips a VLAN tag into {@code tp_vlan_tci} before the
 * frame is copied, so tagged frames fit as well.
 *
 * <p><b>Frames that do not fit</b> (GRO/TSO super-frames, jumbo frames): PACKET_COPY_THRESH makes the
 * kernel put a truncated copy in the slot, marked {@link #TP_STATUS_COPY}, and queue the whole frame
 * on the socket's ordinary receive queue, where recvmsg reads it in the same order. Only when that
 * queue is over its SO_RCVBUF does the kernel hand over the truncated slot without a copy
 * ({@code tp_snaplen < tp_len}); the receiver counts such frames as kernel drops and skips them.
 *
 * <p><b>Memory</b>: {@value #SLOTS} × {@value #SLOT_SIZE} = 4 MiB per queue, the same budget as the
 * socket's receive buffer. The mapping belongs to the queue and is unmapped by {@link #close()}, which
 * the port calls only after the queue's datapath thread stopped (nothing reads a slot afterwards).
 */
final class PacketRing implements AutoCloseable {
    static final int PACKET_RX_RING = 5;
    static final int PACKET_STATISTICS = 6;
    static final int PACKET_COPY_THRESH = 7;
    static final int PACKET_VERSION = 10;
    static final int TPACKET_V2 = 1;

    /** Slot size: a 1500-MTU frame plus the headers in front of it, a power of two so slots tile blocks. */
    static final int SLOT_SIZE = 2048;
    static final int SLOTS = 2048;
    /** Kernel allocation unit; a multiple of the page size and of {@link #SLOT_SIZE}. */
    private static final int BLOCK_SIZE = 64 * 1024;

    // struct tpacket2_hdr
    static final int TP_STATUS = 0;
    static final int TP_LEN = 4;
    static final int TP_SNAPLEN = 8;
    static final int TP_MAC = 12;
    static final int TP_VLAN_TCI = 24;
    static final int TP_VLAN_TPID = 26;

    static final int TP_STATUS_KERNEL = 0;
    static final int TP_STATUS_USER = 1;
    static final int TP_STATUS_COPY = 1 << 1;
    static final int TP_STATUS_LOSING = 1 << 2;

    private static final LibC LIBC = LibC.INSTANCE;

    private final long address;
    private final long length;

    private PacketRing(long address, long length) {
        this.address = address;
        this.length = length;
    }

    /**
     * Turns on copies for oversized frames, sets up the ring on {@code fd} and maps it. Must come
     * after PACKET_VNET_HDR (which the kernel refuses once a ring exists) and before the socket is
     * bound, so that no frame is received into the socket queue first.
     */
    static PacketRing map(int fd, String interfaceName) throws ErrnoException {
        setInt(fd, PACKET_VERSION, TPACKET_V2, "PACKET_VERSION TPACKET_V2");
        setInt(fd, PACKET_COPY_THRESH, 1, "PACKET_COPY_THRESH");
        try (NativeBuffer req = new NativeBuffer(16)) {
            req.putInt(0, BLOCK_SIZE);
            req.putInt(4, SLOTS * SLOT_SIZE / BLOCK_SIZE);
            req.putInt(8, SLOT_SIZE);
            req.putInt(12, SLOTS);
            if (LIBC.setsockopt(fd, PacketSocket.SOL_PACKET, PACKET_RX_RING, req.address(), 16) < 0) {
                throw ErrnoException.last("PACKET_RX_RING (" + SLOTS + " slots) for " + interfaceName);
            }
        }
        long length = (long) SLOTS * SLOT_SIZE;
        long address = LIBC.mmap(null, length, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_SHARED, fd, 0).address();
        if (address == LibC.MAP_FAILED) {
            throw ErrnoException.last("mmap of the receive ring for " + interfaceName);
        }
        return new PacketRing(address, length);
    }

    /** Address of slot {@code index} (0 ≤ index < {@link #SLOTS}). */
    long slot(int index) {
        return address + (long) index * SLOT_SIZE;
    }

    private static void setInt(int fd, int option, int value, String what) throws ErrnoException {
        try (NativeBuffer v = new NativeBuffer(4)) {
            v.putInt(0, value);
            if (LIBC.setsockopt(fd, PacketSocket.SOL_PACKET, option, v.address(), 4) < 0) {
                throw ErrnoException.last("setsockopt " + what);
            }
        }
    }

    /** Unmaps the ring; only once no thread reads it any more (see class doc). */
    @Override
    public void close() {
        LIBC.munmap(address, length);
    }
}
