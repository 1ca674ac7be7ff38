package io.vswitch.vxlan;

import io.vswitch.core.frame.DropReason;
import io.vswitch.core.port.FrameSink;
import io.vswitch.linux.DirectAddress;
import io.vswitch.linux.LibC;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The datagrams of one transmit call, sent on one of the socket's UDP sender sockets with one
 * {@code sendmmsg}. Each datagram is one iovec: the VXLAN header and inner frame, contiguous in the
 * frame's own buffer (the caller wrote the header into the headroom); the kernel writes the UDP header.
 *
 * <p><b>UDP GSO.</b> Where the socket allows it ({@code gso}), consecutive datagrams to the same VTEP
 * of equal length (the last may be shorter) share one message with a {@code UDP_SEGMENT} control
 * message: the kernel builds one 64 KiB packet and cuts it into datagrams as late as it can, instead of
 * routing and building each one. The segments of a TCP super-frame are exactly such a run.
 * At most {@value #MAX_SEGMENTS} datagrams ({@code UDP_MAX_SEGMENTS}) and {@value #MAX_GSO_BYTES} bytes
 * go into one message (a UDP length field is 16 bits).
 *
 * <p><b>Threads.</b> Any datapath thread transmits on any VXLAN port, so each has its own batch
 * ({@link VxlanQueue} keeps one per thread); nothing here is shared. The direct buffer is freed by
 * the garbage collector with the thread's last reference.
 */
final class VxlanSendBatch {
    /** Datagrams per {@code sendmmsg}, and frames per {@link VxlanQueue#transmit(io.vswitch.core.frame.Frame[], int, int[])}. */
    static final int CAPACITY = 64;
    static final int MAX_SEGMENTS = 64;
    /** Under 65535 - 40 (IPv6) - 8 (UDP), the largest payload the kernel takes for one GSO message. */
    static final int MAX_GSO_BYTES = 65_000;
    private static final int SEND_FLAGS = LibC.MSG_DONTWAIT | LibC.MSG_NOSIGNAL;
    // struct mmsghdr (LP64): msghdr {name 0, namelen 8, iov 16, iovlen 24, control 32, controllen 40, flags 48}, msg_len 56
    private static final int MMSG = 64;
    private static final int IOVEC = 16;
    /** struct cmsghdr {size_t len; int level; int type} + u16 gso_size: CMSG_LEN 18, CMSG_SPACE 24. */
    private static final int CMSG = 24;
    private static final int IOVECS_AT = CAPACITY * MMSG;
    private static final int CMSGS_AT = IOVECS_AT + CAPACITY * IOVEC;

    private final ByteBuffer memory = ByteBuffer.allocateDirect(CMSGS_AT + CAPACITY * CMSG).order(ByteOrder.nativeOrder());
    private final long base = DirectAddress.INSTANCE.of(memory);
    /** Which frame (index into the caller's results) each queued datagram carries. */
    private final int[] frameOf = new int[CAPACITY];
    /** Each message's first datagram and datagram count. */
    private final int[] firstOf = new int[CAPACITY];
    private final int[] countOf = new int[CAPACITY];
    /** The bytes each frame's VXLAN header overwrote, put back after sending; by frame index. */
    final long[] saved = new long[CAPACITY];
    /** Whether the frame at an index got a VXLAN header (so {@link #saved} holds what to put back). */
    final boolean[] stamped = new boolean[CAPACITY];
    /** Results for a one-frame transmit. */
    final int[] single = new int[1];
    private int datagrams;
    private int messages;
    private int fd = -1;
    /** The last message still takes datagrams of {@link #gsoSize} bytes (or one shorter, which closes it). */
    private boolean open;
    private int gsoSize;
    private int openBytes;

    VxlanSendBatch() {
        for (int i = 0; i < CAPACITY; i++) {
            int c = CMSGS_AT + i * CMSG;
            memory.putLong(c, 18);
            memory.putInt(c + 8, LibC.SOL_UDP);
            memory.putInt(c + 12, LibC.UDP_SEGMENT);
        }
    }

    /**
     * Queues one datagram of frame {@code frame}: {@code length} bytes at {@code data} to the sockaddr
     * at {@code name}, on socket {@code fd}. Sends what is queued first when it is full or for another
     * socket. With {@code gso}, the datagram joins the previous message when it can.
     */
    void add(int fd, int[] results, int frame, long data, int length, long name, int nameLength, boolean gso) {
        if (datagrams == CAPACITY || (datagrams > 0 && fd != this.fd)) {
            send(results);
        }
        this.fd = fd;
        int last = messages - 1;
        int m = last * MMSG;
        if (gso && open && memory.getLong(m) == name && length <= gsoSize && countOf[last] < MAX_SEGMENTS
                && openBytes + length <= MAX_GSO_BYTES) {
            countOf[last]++;
            memory.putLong(m + 24, countOf[last]); // msg_iovlen
            if (countOf[last] == 2) {
                int c = CMSGS_AT + last * CMSG;
                memory.putShort(c + 16, (short) gsoSize);
                memory.putLong(m + 32, base + c); // msg_control
                memory.putLong(m + 40, CMSG); // msg_controllen
            }
            openBytes += length;
            open = length == gsoSize;
        } else {
            m = messages * MMSG;
            memory.putLong(m, name);
            memory.putInt(m + 8, nameLength);
            memory.putLong(m + 16, base + IOVECS_AT + (long) datagrams * IOVEC); // msg_iov
            memory.putLong(m + 24, 1);
            memory.putLong(m + 32, 0);
            memory.putLong(m + 40, 0);
            memory.putInt(m + 48, 0);
            firstOf[messages] = datagrams;
            countOf[messages] = 1;
            messages++;
            open = gso;
            gsoSize = length;
            openBytes = length;
        }
        int iov = IOVECS_AT + datagrams * IOVEC;
        memory.putLong(iov, data);
        memory.putLong(iov + 8, length);
        frameOf[datagrams++] = frame;
    }

    /**
     * Sends every queued datagram: {@code results[frame]} becomes {@link FrameSink#SENT} when one of the
     * frame's datagrams went out, else keeps the reason of its last failure.
     */
    void send(int[] results) {
        int done = 0;
        while (done < messages) {
            int sent = LibC.INSTANCE.sendmmsg(fd, base + (long) done * MMSG, messages - done, SEND_FLAGS);
            if (sent > 0) {
                mark(results, done, done + sent, FrameSink.SENT);
                done += sent;
                continue;
            }
            int reason = sent == 0 ? DropReason.TX_BUSY.ordinal() : reasonFor(LibC.errno());
            // The kernel stopped at message `done`: a full queue fails the rest too, anything else only that one.
            int failed = reason == DropReason.TX_BUSY.ordinal() ? messages : done + 1;
            mark(results, done, failed, reason);
            done = failed;
        }
        datagrams = 0;
        messages = 0;
        open = false;
    }

    private void mark(int[] results, int fromMessage, int toMessage, int result) {
        for (int k = fromMessage; k < toMessage; k++) {
            for (int i = firstOf[k]; i < firstOf[k] + countOf[k]; i++) {
                if (result == FrameSink.SENT || results[frameOf[i]] != FrameSink.SENT) {
                    results[frameOf[i]] = result;
                }
            }
        }
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
