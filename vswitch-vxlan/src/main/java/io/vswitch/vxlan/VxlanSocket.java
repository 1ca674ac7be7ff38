package io.vswitch.vxlan;

import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.linux.ErrnoException;
import io.vswitch.linux.LibC;
import io.vswitch.linux.NativeBuffer;
import io.vswitch.linux.Netns;
import java.io.IOException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLongArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sockets of one local VTEP (namespace, local address, UDP port), shared by every VXLAN port bound
 * there: the VNI of each received packet picks the port (as the kernel's {@code vxlan_sock} serves every
 * {@code vxlan} device on one port).
 *
 * <p><b>Receive</b>: one UDP socket bound to local:port. The kernel strips the outer IP and UDP headers
 * (and checks the UDP checksum); exactly one of the sharing ports, the <em>leader</em>, watches it, and
 * its datapath thread reads for all of them ({@link VxlanQueue} is a
 * {@link io.vswitch.core.port.SharedReceiveQueue}). When the leader is removed, the next port takes over.
 *
 * <p><b>Transmit</b>: {@value #SENDERS} UDP sockets bound to the local address, each on its own
 * ephemeral port (the kernel's range, 32768-60999, the one its vxlan picks source ports from); a
 * flow's hash picks the socket, so its datagrams keep one source port and an underlay's ECMP spreads
 * flows over {@value #SENDERS} outer 5-tuples and keeps each flow on one path. The kernel writes the
 * UDP and IP headers, routes and resolves the next hop. UDP sockets, not a raw socket writing the UDP
 * header with a per-flow port from the full hash (the first version): only a UDP socket can hand the
 * kernel a whole super-frame's datagrams at once (UDP GSO, see {@link VxlanSendBatch}); measured with
 * bench/vxlan-bench, see docs/ARCHITECTURE.md. IPv6 datagrams carry the mandatory UDP checksum; IPv4
 * ones a zero checksum ({@code SO_NO_CHECK}) unless {@code --udp-csum}, and since the kernel refuses
 * UDP GSO without a checksum, only checksummed sockets ({@link #gso}) use it. Drop-everything filters
 * keep the senders from queueing anything sent to their ports.
 *
 * <p>Opening and closing run on the control thread under the class lock; datapath threads only read
 * the volatile port array and use the fds, which are closed after the last port left.
 */
final class VxlanSocket {
    private static final Logger LOG = LoggerFactory.getLogger(VxlanSocket.class);
    private static final LibC LIBC = LibC.INSTANCE;
    private static final int BUFFER_BYTES = 4 << 20;
    /** struct sock_filter {u16 code; u8 jt, jf; u32 k} "ret #0": accept no packet. */
    private static final long DROP_ALL = 0x06L;
    /** Sender sockets (source ports) per local VTEP; a power of two (see {@link #senderFor}). */
    static final int SENDERS = 16;
    private static final int SENDER_BUFFER_BYTES = 1 << 20;

    /** Open sockets by {@link #key}; guarded by the class lock. */
    private static final Map<String, VxlanSocket> OPEN = new HashMap<>();

    private final String key;
    private final VxlanSettings settings;
    final int udpFd;
    /** The sender sockets, by {@link #senderFor}. */
    private final int[] senders;
    /** Whether the senders may use UDP GSO: they checksum (IPv6, or IPv4 with --udp-csum). */
    final boolean gso;
    final int underlayMtu;
    /**
     * The longest inner frame a datagram may carry to be read whole: the most any port on the socket
     * accepts ({@link #receiveLimitOf}), never less than a small fragment holds. Written by the control
     * thread (join, leave) under the class lock, read by the leader's datapath thread once per
     * {@code recvmmsg}: a batch reserved under the old limit is read with it, the next with the new one.
     */
    private volatile int receiveLimit = FragAllocator.MAX_FRAGMENT_FRAME;
    /** Drops before a packet is any port's (see {@link VxlanDrop#perSocket}); the reading thread adds, anyone reads. */
    private final AtomicLongArray drops = new AtomicLongArray(VxlanDrop.values().length);
    private volatile VxlanPort[] ports = new VxlanPort[0];
    private VxlanPort leader;

    private VxlanSocket(String key, VxlanSettings settings, int udpFd, int[] senders, int underlayMtu) {
        this.key = key;
        this.settings = settings;
        this.udpFd = udpFd;
        this.senders = senders;
        this.gso = checksums(settings);
        this.underlayMtu = underlayMtu;
    }

    private static boolean checksums(VxlanSettings s) {
        return s.local().isIpv6() || s.udpCsum();
    }

    /** The sender socket of a flow: the same for every datagram of the flow, from any thread. */
    int senderFor(int flowHash) {
        return senders[(flowHash * 0x9e37_79b1) >>> 28];
    }

    private static String key(VxlanSettings s) {
        return (s.netns() == null ? "" : s.netns()) + "|" + s.local() + "|" + s.dstPort();
    }

    /**
     * Adds {@code port} to the socket of its local VTEP, opening the socket if it is the first. The first
     * port becomes the leader.
     *
     * @throws IllegalArgumentException if another port has the same VNI there, or asks for other socket options
     */
    static VxlanSocket join(VxlanPort port) throws IOException {
        VxlanSettings s = port.settings();
        synchronized (VxlanSocket.class) {
            VxlanSocket socket = OPEN.get(key(s));
            if (socket == null) {
                socket = open(s);
                OPEN.put(socket.key, socket);
            } else {
                if (!socket.settings.socketOptions().equals(s.socketOptions())) {
                    throw new IllegalArgumentException("the ports on " + s.local() + " port " + s.dstPort() + " share one socket with "
                            + socket.settings.socketOptions() + ": give this port the same --ttl, --df and --udp-csum");
                }
                for (VxlanPort other : socket.ports) {
                    if (other.settings().vni() == s.vni()) {
                        throw new IllegalArgumentException("VNI " + s.vni() + " on " + s.local() + " port " + s.dstPort()
                                + " is already port " + other.name() + ": one port per VNI and local VTEP");
                    }
                }
            }
            VxlanPort[] next = Arrays.copyOf(socket.ports, socket.ports.length + 1);
            next[next.length - 1] = port;
            socket.ports = next;
            socket.sizeReceive();
            if (socket.leader == null) {
                socket.lead(port);
            }
            return socket;
        }
    }

    /**
     * Removes {@code port}; the next port leads if it led, and the sockets close with the last port.
     * Called once the port's own datapath thread has stopped, so no frame it read is still in flight.
     */
    void leave(VxlanPort port) {
        synchronized (VxlanSocket.class) {
            VxlanPort[] rest = Arrays.stream(ports).filter(p -> p != port).toArray(VxlanPort[]::new);
            ports = rest;
            sizeReceive();
            if (leader == port) {
                leader = null;
                if (rest.length > 0) {
                    lead(rest[0]);
                }
            }
            if (rest.length == 0) {
                OPEN.remove(key);
                LIBC.close(udpFd);
                closeAll(senders);
                LOG.info("vxlan socket {} closed", key);
            }
        }
    }

    /**
     * The inner MTU of a port with settings {@code s} on this socket: as asked, or what the underlay
     * carries under the outer headers (as the kernel's vxlan device computes it), at most
     * {@link VxlanSettings#MAX_INNER_MTU}.
     */
    int innerMtuOf(VxlanSettings s) {
        return s.innerMtu() != null ? s.innerMtu() : Math.min(underlayMtu - s.overhead(), VxlanSettings.MAX_INNER_MTU);
    }

    /**
     * The longest inner frame a port with settings {@code s} receives: its inner MTU under an Ethernet
     * header and one 802.1Q tag (a trunk's frames; the kernel's vxlan does not check received lengths
     * against its MTU at all).
     */
    private int receiveLimitOf(VxlanSettings s) {
        return innerMtuOf(s) + 14 + 4;
    }

    /**
     * Sizes the receive buffers for the ports now on the socket. One socket reads for every VNI on it
     * and learns a datagram's VNI only after reading it, so every read gets room for the largest
     * frame any of them accepts. The buffers are fragments of that size carved from the reader's
     * chunks ({@link io.vswitch.core.alloc.FragAllocator#reserve(io.vswitch.core.frame.Frame, int)}),
     * read into directly: no copy, and no large buffer, of which a queue has too few for a batch. The
     * cost is address space, not bytes touched (the kernel writes only what arrived, and the last
     * fragment of a batch gives its tail back); a socket whose ports all have a standard MTU keeps 2 KiB
     * fragments. The alternative, 2 KiB fragments with a large buffer behind each slot as the TAP reads,
     * would copy the head of every jumbo datagram and allow at most 8 of them per batch.
     */
    private void sizeReceive() {
        int limit = FragAllocator.MAX_FRAGMENT_FRAME;
        for (VxlanPort p : ports) {
            limit = Math.max(limit, receiveLimitOf(p.settings()));
        }
        receiveLimit = limit;
    }

    /** The longest inner frame the socket reads whole now; a longer one is dropped as {@link VxlanDrop#OVERSIZE}. */
    int receiveLimit() {
        return receiveLimit;
    }

    private void lead(VxlanPort port) {
        try {
            port.queue().watch(udpFd);
            leader = port;
        } catch (ErrnoException e) {
            LOG.error("vxlan socket {}: port {} cannot take over receiving: {}", key, port.name(), e.getMessage());
        }
    }

    /** The port with {@code vni} on this socket, or null. Lock-free; a scan, as a VTEP carries few VNIs. */
    VxlanPort portFor(int vni) {
        for (VxlanPort p : ports) {
            if (p.vni() == vni) {
                return p;
            }
        }
        return null;
    }

    void dropped(VxlanDrop reason) {
        drops.incrementAndGet(reason.ordinal());
    }

    long drops(VxlanDrop reason) {
        return drops.get(reason.ordinal());
    }

    /** The leader's name (cold path: show). */
    String leaderName() {
        synchronized (VxlanSocket.class) {
            return leader == null ? null : leader.name();
        }
    }

    // ---- opening, in the underlay's namespace ----

    private static VxlanSocket open(VxlanSettings s) throws IOException {
        return Netns.call(s.netns(), () -> {
            int udp = -1;
            int[] senders = new int[SENDERS];
            Arrays.fill(senders, -1);
            try (NativeBuffer scratch = new NativeBuffer(64)) {
                udp = openReceiver(s, scratch);
                for (int i = 0; i < SENDERS; i++) {
                    senders[i] = openSender(s, scratch);
                }
                int mtu = underlayMtu(s, scratch);
                LOG.info("vxlan socket {} open: underlay MTU {}, UDP GSO {}", key(s), mtu, checksums(s) ? "on" : "off (no checksum)");
                return new VxlanSocket(key(s), s, udp, senders, mtu);
            } catch (IOException | RuntimeException e) {
                if (udp >= 0) {
                    LIBC.close(udp);
                }
                closeAll(senders);
                throw e;
            }
        });
    }

    private static int family(VxlanSettings s) {
        return s.local().isIpv6() ? LibC.AF_INET6 : LibC.AF_INET;
    }

    private static int openReceiver(VxlanSettings s, NativeBuffer scratch) throws IOException {
        int fd = LIBC.socket(family(s), LibC.SOCK_DGRAM | LibC.SOCK_CLOEXEC | LibC.SOCK_NONBLOCK, 0);
        if (fd < 0) {
            throw ErrnoException.last("socket(UDP)");
        }
        try {
            if (s.local().isIpv6()) {
                setInt(fd, LibC.IPPROTO_IPV6, LibC.IPV6_V6ONLY, 1, scratch, "IPV6_V6ONLY");
            }
            setBuffer(fd, LibC.SO_RCVBUFFORCE, LibC.SO_RCVBUF, scratch);
            int len = sockaddr(scratch, s.local(), s.dstPort());
            if (LIBC.bind(fd, scratch.address(), len) < 0) {
                int errno = LibC.errno();
                throw new IOException(errno == LibC.EADDRINUSE
                        ? "UDP port " + s.dstPort() + " on " + s.local() + " is taken by another program (a kernel vxlan device,"
                            + " Open vSwitch?): stop it or use another --dstport"
                        : errno == LibC.EADDRNOTAVAIL
                            ? s.local() + " is not an address of " + (s.netns() == null ? "this host" : "namespace " + s.netns())
                                + ": give --local one of its addresses" + (s.netns() == null ? " (or --netns)" : "")
                            : new ErrnoException("bind " + s.local() + ":" + s.dstPort(), errno).getMessage());
            }
            return fd;
        } catch (IOException | RuntimeException e) {
            LIBC.close(fd);
            throw e;
        }
    }

    private static void closeAll(int[] fds) {
        for (int fd : fds) {
            if (fd >= 0) {
                LIBC.close(fd);
            }
        }
    }

    /** One sender: a UDP socket on local:ephemeral with the port's TTL, DF and checksum settings. */
    private static int openSender(VxlanSettings s, NativeBuffer scratch) throws IOException {
        int fd = LIBC.socket(family(s), LibC.SOCK_DGRAM | LibC.SOCK_CLOEXEC | LibC.SOCK_NONBLOCK, 0);
        if (fd < 0) {
            throw ErrnoException.last("socket(UDP sender)");
        }
        try {
            scratch.clear(0, 64);
            scratch.putLong(0, DROP_ALL);
            scratch.putShort(16, (short) 1);
            scratch.putLong(24, scratch.address());
            if (LIBC.setsockopt(fd, LibC.SOL_SOCKET, LibC.SO_ATTACH_FILTER, scratch.address() + 16, 16) < 0) {
                throw ErrnoException.last("SO_ATTACH_FILTER");
            }
            scratch.putInt(56, SENDER_BUFFER_BYTES);
            if (LIBC.setsockopt(fd, LibC.SOL_SOCKET, LibC.SO_SNDBUFFORCE, scratch.address() + 56, 4) < 0) {
                LIBC.setsockopt(fd, LibC.SOL_SOCKET, LibC.SO_SNDBUF, scratch.address() + 56, 4);
            }
            boolean v6 = s.local().isIpv6();
            if (v6) {
                setInt(fd, LibC.IPPROTO_IPV6, LibC.IPV6_V6ONLY, 1, scratch, "IPV6_V6ONLY");
            } else if (!s.udpCsum()) {
                setInt(fd, LibC.SOL_SOCKET, LibC.SO_NO_CHECK, 1, scratch, "SO_NO_CHECK");
            }
            if (s.ttl() != null) {
                setInt(fd, v6 ? LibC.IPPROTO_IPV6 : LibC.IPPROTO_IP, v6 ? LibC.IPV6_UNICAST_HOPS : LibC.IP_TTL, s.ttl(), scratch, "TTL");
            }
            int pmtu = s.df() != null && s.df() ? LibC.IP_PMTUDISC_DO : LibC.IP_PMTUDISC_DONT;
            setInt(fd, v6 ? LibC.IPPROTO_IPV6 : LibC.IPPROTO_IP, v6 ? LibC.IPV6_MTU_DISCOVER : LibC.IP_MTU_DISCOVER, pmtu, scratch, "MTU_DISCOVER");
            int len = sockaddr(scratch, s.local(), 0);
            if (LIBC.bind(fd, scratch.address(), len) < 0) {
                throw ErrnoException.last("bind UDP sender to " + s.local());
            }
            return fd;
        } catch (IOException | RuntimeException e) {
            LIBC.close(fd);
            throw e;
        }
    }

    /** The sender sockets' source ports (cold path: tests and show). */
    int[] sourcePorts() {
        int[] ports = new int[SENDERS];
        byte[] port = new byte[2];
        try (NativeBuffer scratch = new NativeBuffer(64)) {
            for (int i = 0; i < SENDERS; i++) {
                scratch.putInt(40, 28);
                if (LIBC.getsockname(senders[i], scratch.address(), scratch.address() + 40) < 0) {
                    throw new IllegalStateException(ErrnoException.last("getsockname").getMessage());
                }
                scratch.get(2, port, 0, 2);
                ports[i] = ((port[0] & 0xff) << 8) | (port[1] & 0xff);
            }
        }
        return ports;
    }

    /**
     * The smallest route MTU towards the configured remotes (what a connected UDP socket reports as
     * IP_MTU), or 1500 when there is no configured remote to ask about.
     */
    private static int underlayMtu(VxlanSettings s, NativeBuffer scratch) throws IOException {
        int mtu = Integer.MAX_VALUE;
        boolean v6 = s.local().isIpv6();
        for (UnderlayAddress remote : s.remotes()) {
            int fd = LIBC.socket(family(s), LibC.SOCK_DGRAM | LibC.SOCK_CLOEXEC, 0);
            if (fd < 0) {
                throw ErrnoException.last("socket");
            }
            try {
                int len = sockaddr(scratch, remote, s.dstPort());
                if (LIBC.connect(fd, scratch.address(), len) < 0) {
                    int errno = LibC.errno();
                    throw new IOException("no route from " + s.local() + " to remote " + remote
                            + (s.netns() == null ? "" : " in namespace " + s.netns()) + ": " + new ErrnoException("connect", errno).getMessage());
                }
                scratch.putInt(40, 4);
                if (LIBC.getsockopt(fd, v6 ? LibC.IPPROTO_IPV6 : LibC.IPPROTO_IP, v6 ? LibC.IPV6_MTU : LibC.IP_MTU,
                        scratch.address() + 32, scratch.address() + 40) < 0) {
                    throw ErrnoException.last("getsockopt(IP_MTU)");
                }
                mtu = Math.min(mtu, scratch.getInt(32));
            } finally {
                LIBC.close(fd);
            }
        }
        return mtu == Integer.MAX_VALUE ? 1500 : mtu;
    }

    /** Writes a sockaddr_in/in6 for {@code address}:{@code port} at the start of {@code buf}; returns its length. */
    static int sockaddr(NativeBuffer buf, UnderlayAddress address, int port) {
        buf.clear(0, 28);
        byte[] bytes = address.bytes();
        buf.putShort(0, (short) (address.isIpv6() ? LibC.AF_INET6 : LibC.AF_INET));
        buf.putShort(2, Short.reverseBytes((short) port));
        buf.put(address.isIpv6() ? 8 : 4, bytes, 0, bytes.length);
        return address.isIpv6() ? 28 : 16;
    }

    private static void setInt(int fd, int level, int option, int value, NativeBuffer scratch, String what) throws ErrnoException {
        scratch.putInt(56, value);
        if (LIBC.setsockopt(fd, level, option, scratch.address() + 56, 4) < 0) {
            throw ErrnoException.last("setsockopt(" + what + ")");
        }
    }

    private static void setBuffer(int fd, int forced, int plain, NativeBuffer scratch) {
        scratch.putInt(56, BUFFER_BYTES);
        if (LIBC.setsockopt(fd, LibC.SOL_SOCKET, forced, scratch.address() + 56, 4) < 0) {
            LIBC.setsockopt(fd, LibC.SOL_SOCKET, plain, scratch.address() + 56, 4);
        }
    }

    /** Ports sharing this socket now (cold path). */
    List<VxlanPort> ports() {
        return List.of(ports);
    }
}
