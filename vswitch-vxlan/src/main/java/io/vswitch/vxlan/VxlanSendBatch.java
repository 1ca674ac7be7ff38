package io.vswitch.vxlan;

import io.vswitch.core.frame.DropReason;
import io.vswitch.core.port.FrameSink;
import io.vswitch.linux.DirectAddress;
import io.vswitch.linux.LibC;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The datagrams of one transmit call, sent on the raw socket with one {@code sendmmsg} per
 * {@value #CAPACITY} of them (one per frame and VTEP): a TCP super-frame cut into 46 segments costs one
 * system call instead of 46 {@code sendmsg}s.
 *
 * <p>Each message is two iovecs: the 8-byte UDP header, written here per message (its IPv4 checksum,
 * when asked for, depends on the VTEP, and a flooded frame goes to several VTEPs in one batch), and
 * the VXLAN header plus inner frame, contiguous in the frame's own buffer (the caller wrote the VXLAN
 * header into the headroom).
 *
 * <p><b>Threads.</b> Any datapath thread transmits on any VXLAN port, so each has its own batch
 * ({@link VxlanQueue} keeps one per thread); nothing here is shared. The direct buffer is freed by
 * the garbage collector with the thread's last reference.
 */
final class VxlanSendBatch {
    /** Messages per {@code sendmmsg}, and frames per {@link VxlanQueue#transmit(io.vswitch.core.frame.Frame[], int, int[])}. */
    static final int CAPACITY = 64;
    private static final int SEND_FLAGS = LibC.MSG_DONTWAIT | LibC.MSG_NOSIGNAL;
    // struct mmsghdr (LP64): msghdr {name 0, namelen 8, iov 16, iovlen 24, control 32, controllen 40, flags 48}, msg_len 56
    private static final int MMSG = 64;
    private static final int IOVECS = 32;
    private static final int UDP = VxlanHeader.UDP_LENGTH;
    private static final int IOVECS_AT = CAPACITY * MMSG;
    private static final int UDP_AT = IOVECS_AT + CAPACITY * IOVECS;

    private final ByteBuffer memory = ByteBuffer.allocateDirect(UDP_AT + CAPACITY * UDP).order(ByteOrder.nativeOrder());
    /** The same memory in network byte order, for the UDP headers. */
    private final ByteBuffer network = memory.duplicate().order(ByteOrder.BIG_ENDIAN);
    private final long base = DirectAddress.INSTANCE.of(memory);
    /** Which frame (index into the caller's results) each queued message carries. */
    private final int[] frameOf = new int[CAPACITY];
    /** The bytes each frame's VXLAN header overwrote, put back after sending; by frame index. */
    final long[] saved = new long[CAPACITY];
    /** Whether the frame at an index got a VXLAN header (so {@link #saved} holds what to put back). */
    final boolean[] stamped = new boolean[CAPACITY];
    /** Results for a one-frame transmit. */
    final int[] single = new int[1];
    private int count;

    VxlanSendBatch() {
        for (int i = 0; i < CAPACITY; i++) {
            int iov = IOVECS_AT + i * IOVECS;
            memory.putLong(i * MMSG + 16, base + iov); // msg_iov
            memory.putLong(i * MMSG + 24, 2); // msg_iovlen
            memory.putLong(iov, base + UDP_AT + (long) i * UDP);
            memory.putLong(iov + 8, UDP);
        }
    }

    /**
     * Queues one datagram of frame {@code frame}: a UDP header from the arguments, then {@code dataLength}
     * bytes at {@code data}, to the sockaddr at {@code name}. Sends the queue first when it is full.
     */
    void add(int fd, int[] results, int frame, int srcPort, int dstPort, int checksum, long data, int dataLength, long name, int nameLength) {
        if (count == CAPACITY) {
            send(fd, results);
        }
        int m = count * MMSG;
        memory.putLong(m, name);
        memory.putInt(m + 8, nameLength);
        memory.putInt(m + 48, 0);
        int iov = IOVECS_AT + count * IOVECS;
        memory.putLong(iov + 16, data);
        memory.putLong(iov + 24, dataLength);
        int udp = UDP_AT + count * UDP;
        network.putShort(udp, (short) srcPort);
        network.putShort(udp + 2, (short) dstPort);
        network.putShort(udp + 4, (short) (UDP + dataLength));
        network.putShort(udp + 6, (short) checksum);
        frameOf[count] = frame;
        count++;
    }

    /**
     * Sends every queued datagram: {@code results[frame]} becomes {@link FrameSink#SENT} when one of the
     * frame's datagrams went out, else keeps the reason of its last failure.
     */
    void send(int fd, int[] results) {
        int done = 0;
        while (done < count) {
            int sent = LibC.INSTANCE.sendmmsg(fd, base + (long) done * MMSG, count - done, SEND_FLAGS);
            if (sent > 0) {
                for (int i = done; i < done + sent; i++) {
                    results[frameOf[i]] = FrameSink.SENT;
                }
                done += sent;
                continue;
            }
            int reason = sent == 0 ? DropReason.TX_BUSY.ordinal() : reasonFor(LibC.errno());
            // The kernel stopped at message `done`: a full queue fails the rest too, anything else only that one.
            int failed = reason == DropReason.TX_BUSY.ordinal() ? count : done + 1;
            for (int i = done; i < failed; i++) {
                if (results[frameOf[i]] != FrameSink.SENT) {
                    results[frameOf[i]] = reason;
                }
            }
            done = failed;
        }
        count = 0;
    }

    private static int reasonFor(int errno) {
        if (errno == LibC.EAGAIN || errno == LibC.ENOBUFS || errno == LibC.EINTR) {
            return DropReason.TX_BUSY.ordinal();
        }
        if (errno == LibC.EMSGSIZE) {
            return DropReason.TOO_BIG_FOR_TUNNEL.ordinal();
        }
        return DropReason.TX_ERROR.ordinal();
    }
}
