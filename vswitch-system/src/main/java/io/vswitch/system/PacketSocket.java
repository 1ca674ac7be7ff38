package io.vswitch.system;

import io.vswitch.linux.ErrnoException;
import io.vswitch.linux.LibC;
import io.vswitch.linux.NativeBuffer;

/**
 * Setting up one AF_PACKET socket of a system port (cold path, once per queue): everything the data
 * path relies on is decided here, before the socket sees its first frame.
 *
 * <ul>
 * <li>{@code socket(AF_PACKET, SOCK_RAW, 0)}: protocol 0 receives nothing until {@link #bind}, so no
 *     frame of another interface slips in while the options are set.</li>
 * <li>{@code PACKET_VNET_HDR}: every frame read is preceded by a {@value #VNET_HEADER_SIZE}-byte
 *     {@code struct virtio_net_hdr} (no {@code num_buffers}, unlike the TAP's 12 bytes) and every frame
 *     written must be; GRO/TSO super-frames cross whole, partial checksums stay partial.</li>
 * <li>{@code PACKET_AUXDATA}: the kernel strips an 802.1Q tag into {@code skb->vlan_tci} before packet
 *     sockets see a received frame (skb_vlan_untag in __netif_receive_skb_core), so the tag comes back
 *     only as a control message (for frames read with recvmsg) or in the ring slot's header; the
 *     receiver puts it back into the frame.</li>
 * <li>The {@link PacketRing} receive ring, set up by the caller between {@link #open} and
 *     {@link #bind}: after PACKET_VNET_HDR (refused once a ring exists), before the first frame.</li>
 * <li>{@code PACKET_IGNORE_OUTGOING}: the socket does not see frames leaving the interface, neither
 *     ours (which would loop back into the switch) nor the host stack's own, which is what a bridge
 *     port sees too.</li>
 * <li>{@code PACKET_QDISC_BYPASS}: our writes go straight to the driver's queue
 *     ({@code dev_direct_xmit}); a full queue is an immediate ENOBUFS, which the switch counts as
 *     tx-busy, as it does for a TAP, instead of queueing in a qdisc. Side effect: tcpdump on the
 *     interface does not see what the switch sends.</li>
 * <li>{@code PACKET_FANOUT} in hash mode: the kernel spreads received frames over the queues by
 *     symmetric flow hash, so a flow and its replies stay on one queue.</li>
 * <li>{@code PACKET_MR_PROMISC}: promiscuous mode as a membership of the socket, which the kernel
 *     reference-counts and drops when the socket closes (even if we crash), so the switch never
 *     changes the interface's own flags.</li>
 * </ul>
 */
final class PacketSocket {
    /** {@code sizeof(struct virtio_net_hdr)}: the header PACKET_VNET_HDR puts before each frame. */
    static final int VNET_HEADER_SIZE = 10;

    static final int SOL_PACKET = 263;
    static final int PACKET_ADD_MEMBERSHIP = 1;
    static final int PACKET_AUXDATA = 8;
    static final int PACKET_VNET_HDR = 15;
    static final int PACKET_FANOUT = 18;
    static final int PACKET_QDISC_BYPASS = 20;
    static final int PACKET_IGNORE_OUTGOING = 23;
    static final int PACKET_MR_PROMISC = 1;
    static final int PACKET_FANOUT_HASH = 0;
    /** Lets the kernel pick a group id no one else uses (Linux 4.2+); read back with getsockopt. */
    static final int PACKET_FANOUT_FLAG_UNIQUEID = 0x2000;
    static final int ETH_P_ALL = 0x0003;
    static final int BUFFER_BYTES = 4 << 20;

    private static final LibC LIBC = LibC.INSTANCE;
    /** struct sockaddr_ll: family, protocol (big-endian), ifindex, hatype, pkttype, halen, addr[8]. */
    private static final int SOCKADDR_LL_SIZE = 20;
    /** struct packet_mreq: ifindex, type, alen, address[8]. */
    private static final int PACKET_MREQ_SIZE = 16;

    private PacketSocket() {
    }

    /**
     * Opens a non-blocking packet socket for {@code interfaceName} with the options above, not bound
     * yet (it receives nothing until {@link #bind}); fanout and promiscuous mode are separate steps.
     * Closes the socket again on failure.
     *
     * @return the fd, owned by the caller
     */
    static int open(String interfaceName) throws ErrnoException {
        int fd = LIBC.socket(LibC.AF_PACKET, LibC.SOCK_RAW | LibC.SOCK_NONBLOCK | LibC.SOCK_CLOEXEC, 0);
        if (fd < 0) {
            throw ErrnoException.last("socket(AF_PACKET) for " + interfaceName + " (needs CAP_NET_RAW)");
        }
        try {
            setInt(fd, SOL_PACKET, PACKET_VNET_HDR, 1, "PACKET_VNET_HDR");
            setInt(fd, SOL_PACKET, PACKET_AUXDATA, 1, "PACKET_AUXDATA");
            setInt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1, "PACKET_IGNORE_OUTGOING (Linux 4.20+)");
            setInt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, 1, "PACKET_QDISC_BYPASS");
            if (setIntQuietly(fd, LibC.SOL_SOCKET, LibC.SO_RCVBUFFORCE, BUFFER_BYTES) < 0) {
                setIntQuietly(fd, LibC.SOL_SOCKET, LibC.SO_RCVBUF, BUFFER_BYTES);
            }
            if (setIntQuietly(fd, LibC.SOL_SOCKET, LibC.SO_SNDBUFFORCE, BUFFER_BYTES) < 0) {
                setIntQuietly(fd, LibC.SOL_SOCKET, LibC.SO_SNDBUF, BUFFER_BYTES);
            }
            return fd;
        } catch (ErrnoException | RuntimeException e) {
            LIBC.close(fd);
            throw e;
        }
    }

    /**
     * Joins the bound socket to a hash-mode fanout group: a new group with a kernel-chosen id when
     * {@code group} is 0, else the existing {@code group}. The interface must be up (the kernel
     * refuses a socket whose hook is not running with EINVAL).
     *
     * @return the group id, for the queues that join next
     */
    static int joinFanout(int fd, int group, String interfaceName) throws ErrnoException {
        int flags = group == 0 ? PACKET_FANOUT_FLAG_UNIQUEID : 0;
        int value = (group & 0xffff) | ((PACKET_FANOUT_HASH | flags) << 16);
        try (NativeBuffer v = new NativeBuffer(4)) {
            v.putInt(0, value);
            if (LIBC.setsockopt(fd, SOL_PACKET, PACKET_FANOUT, v.address(), 4) < 0) {
                throw ErrnoException.last("PACKET_FANOUT on " + interfaceName
                        + (LibC.errno() == LibC.EINVAL ? " (several queues need the interface to be up)" : ""));
            }
            if (group != 0) {
                return group;
            }
            try (NativeBuffer len = new NativeBuffer(4)) {
                len.putInt(0, 4);
                if (LIBC.getsockopt(fd, SOL_PACKET, PACKET_FANOUT, v.address(), len.address()) < 0) {
                    throw ErrnoException.last("getsockopt(PACKET_FANOUT) on " + interfaceName);
                }
                return v.getInt(0) & 0xffff;
            }
        }
    }

    /** Puts the interface in promiscuous mode for as long as {@code fd} stays open. */
    static void addPromiscuousMembership(int fd, int ifindex, String interfaceName) throws ErrnoException {
        try (NativeBuffer mreq = new NativeBuffer(PACKET_MREQ_SIZE)) {
            mreq.putInt(0, ifindex);
            mreq.putShort(4, (short) PACKET_MR_PROMISC);
            if (LIBC.setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq.address(), PACKET_MREQ_SIZE) < 0) {
                throw ErrnoException.last("PACKET_ADD_MEMBERSHIP promisc on " + interfaceName);
            }
        }
    }

    /** Binds the socket to interface {@code ifindex}: from here on it receives the interface's frames. */
    static void bind(int fd, int ifindex, String interfaceName) throws ErrnoException {
        try (NativeBuffer sll = new NativeBuffer(SOCKADDR_LL_SIZE)) {
            sll.putShort(0, (short) LibC.AF_PACKET);
            sll.putShort(2, Short.reverseBytes((short) ETH_P_ALL));
            sll.putInt(4, ifindex);
            if (LIBC.bind(fd, sll.address(), SOCKADDR_LL_SIZE) < 0) {
                throw ErrnoException.last("bind AF_PACKET to " + interfaceName);
            }
        }
    }

    private static void setInt(int fd, int level, int option, int value, String what) throws ErrnoException {
        if (setIntQuietly(fd, level, option, value) < 0) {
            throw ErrnoException.last("setsockopt " + what);
        }
    }

    private static int setIntQuietly(int fd, int level, int option, int value) {
        try (NativeBuffer v = new NativeBuffer(4)) {
            v.putInt(0, value);
            return LIBC.setsockopt(fd, level, option, v.address(), 4);
        }
    }
}
