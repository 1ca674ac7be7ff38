package io.vswitch.tap;

import io.vswitch.linux.ErrnoException;
import io.vswitch.linux.IfReq;
import io.vswitch.linux.IpCommand;
import io.vswitch.linux.LibC;
import io.vswitch.linux.NativeBuffer;
import io.vswitch.linux.NetDevice;
import java.io.IOException;
import java.util.Arrays;
import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * A multi-queue Linux TAP device with virtio-net headers: one non-blocking {@code /dev/net/tun} fd per
 * queue, each carrying whole Ethernet frames prefixed by a {@value #VNET_HEADER_SIZE}-byte
 * {@code virtio_net_hdr_v1}.
 *
 * <p><b>Creating vs attaching.</b> {@link #open} creates the device, or attaches to an existing one
 * (e.g. made with {@code ip tuntap add NAME mode tap multi_queue}), and records which in
 * {@link #preexisting()}. It never sets TUNSETPERSIST, so a device it created disappears when
 * {@link #close()} closes the last fd, while a persistent device outlives us.
 *
 * <p><b>Fast write path.</b> The fds are O_NONBLOCK, TUNSETSNDBUF is never called (the socket's sndbuf
 * stays INT_MAX) and no zero-copy is used. Together with being a TAP, those are exactly the conditions
 * of {@code tun_can_build_skb()} in drivers/net/tun.c, so a write of a frame that fits in a page
 * together with headroom and {@code skb_shared_info} (up to ~3.4 KiB with 4 KiB pages: any 1500-MTU
 * frame) takes the {@code tun_build_skb()} path: one copy into a page fragment wrapped by
 * {@code build_skb}, instead of {@code tun_alloc_skb} plus a separate copy. Larger (GSO) writes take
 * the ordinary path.
 *
 * <p><b>Offloads.</b> TUNSETOFFLOAD states what <em>we</em> accept in frames we read from the fds:
 * partially checksummed frames (VIRTIO_NET_HDR_F_NEEDS_CSUM) and, with TSO/USO, GSO super-frames up
 * to 64 KiB described by the vnet header. Readers must therefore handle those; {@link #offloads()}
 * says which the kernel accepted (USO only on kernels from 6.2).
 *
 * <p><b>Device removed from outside.</b> After {@code ip link del NAME} (or deletion of the network
 * namespace it was moved to) the fds stay open but are detached: read and write fail with
 * {@code EBADFD} (see {@link #isDeviceGone(int)}), and epoll reports {@code EPOLLERR} on them on every
 * wait, since level-triggered. The caller should then deregister the fds and {@link #close()} this
 * object. A device that is merely down fails writes with {@code EIO} and has nothing to read
 * ({@code EAGAIN}); that is not "gone".
 *
 * <p><b>Ownership.</b> This object owns the queue fds and closes them in {@link #close()}; callers may
 * use {@link #fd(int)} for reads, writes and epoll registration, but must not close it, and must stop
 * using it before {@code close()}. Configuration methods are cold-path and not thread-safe.
 */
public final class TapDevice implements AutoCloseable {

    /** Size of {@code struct virtio_net_hdr_v1} (= {@code virtio_net_hdr_mrg_rxbuf}), as virtio 1.0 peers use. */
    public static final int VNET_HEADER_SIZE = 12;
    /** MAX_TAP_QUEUES in drivers/net/tun.c. */
    public static final int MAX_QUEUES = 256;

    /** TUN_F_* bits of TUNSETOFFLOAD (include/uapi/linux/if_tun.h). */
    public enum Offload {
        CSUM(0x01), TSO4(0x02), TSO6(0x04), TSO_ECN(0x08), USO4(0x20), USO6(0x40);

        private final int flag;

        Offload(int flag) {
            this.flag = flag;
        }

        public int flag() {
            return flag;
        }
    }

    private static final String TUN_PATH = "/dev/net/tun";
    private static final long TUNSETIFF = 0x400454caL;
    private static final long TUNSETOFFLOAD = 0x400454d0L;
    private static final long TUNSETVNETHDRSZ = 0x400454d8L;
    private static final int IFF_TAP = 0x0002;
    private static final int IFF_MULTI_QUEUE = 0x0100;
    private static final int IFF_NO_PI = 0x1000;
    private static final int IFF_VNET_HDR = 0x4000;
    /** Makes TUNSETIFF fail with EBUSY if the device exists: a race-free "did we create it" test. */
    private static final int IFF_TUN_EXCL = 0x8000;
    private static final int TAP_FLAGS = IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE | IFF_VNET_HDR;

    /** Tried in order: the first set the kernel accepts wins (older kernels reject USO with EINVAL). */
    private static final List<Set<Offload>> OFFLOAD_CHOICES = List.of(
            Collections.unmodifiableSet(EnumSet.allOf(Offload.class)),
            Collections.unmodifiableSet(EnumSet.of(Offload.CSUM, Offload.TSO4, Offload.TSO6, Offload.TSO_ECN)));

    private final String name;
    private final int[] fds;
    private final boolean preexisting;
    private final Set<Offload> offloads;
    private int ifindex;
    /** Where {@link #moveToNetns} put the device; null while it is in ours. */
    private String netns;
    private boolean closed;

    private TapDevice(String name, int[] fds, boolean preexisting, Set<Offload> offloads, int ifindex) {
        this.name = name;
        this.fds = fds;
        this.preexisting = preexisting;
        this.offloads = offloads;
        this.ifindex = ifindex;
    }

    /**
     * Creates or attaches to the multi-queue TAP {@code name} and opens {@code queues} queue fds on it.
     * An empty name lets the kernel pick one ({@code tapN}). An existing device must be a
     * {@code multi_queue} tap (else EINVAL). On failure every fd opened so far is closed again.
     */
    public static TapDevice open(String name, int queues) throws IOException {
        if (queues < 1 || queues > MAX_QUEUES) {
            throw new IllegalArgumentException("queues must be in 1.." + MAX_QUEUES + ": " + queues);
        }
        int[] fds = new int[queues];
        int opened = 0;
        try {
            boolean preexisting = false;
            String actualName = name;
            for (int q = 0; q < queues; q++) {
                fds[opened++] = openTun();
                if (q == 0) {
                    String created = setIff(fds[0], name, TAP_FLAGS | IFF_TUN_EXCL, true);
                    preexisting = created == null;
                    actualName = preexisting ? setIff(fds[0], name, TAP_FLAGS, false) : created;
                } else {
                    setIff(fds[q], actualName, TAP_FLAGS, false);
                }
            }
            // Header size and offloads are stored per device (tun_struct), not per queue: once is enough.
            setVnetHeaderSize(fds[0]);
            Set<Offload> offloads = negotiateOffloads(fds[0]);
            return new TapDevice(actualName, fds, preexisting, offloads, NetDevice.ifindex(actualName));
        } catch (IOException | RuntimeException e) {
            for (int i = 0; i < opened; i++) {
                LibC.INSTANCE.close(fds[i]);
            }
            throw e;
        }
    }

    /**
     * True if a failed read or write on a queue fd means the device no longer exists (deleted from
     * outside, or its network namespace was destroyed): the kernel detached the fd, so it answers
     * EBADFD forever and the fd should be closed.
     */
    public static boolean isDeviceGone(int errno) {
        return errno == LibC.EBADFD;
    }

    public String name() {
        return name;
    }

    public int queueCount() {
        return fds.length;
    }

    /** The non-blocking fd of {@code queue}; owned by this object, valid until {@link #close()}. */
    public int fd(int queue) {
        if (closed) {
            throw new IllegalStateException(name + " is closed");
        }
        return fds[queue];
    }

    public int vnetHeaderSize() {
        return VNET_HEADER_SIZE;
    }

    /** The offloads the kernel accepted for frames we read (see class doc). */
    public Set<Offload> offloads() {
        return offloads;
    }

    /** True if we attached to a device that already existed (and so will outlive {@link #close()} if persistent). */
    public boolean preexisting() {
        return preexisting;
    }

    /** The interface index, in the network namespace the device is currently in. */
    public int ifindex() {
        return ifindex;
    }

    public void setUp(boolean up) throws IOException {
        NetDevice.setUp(localName(), up);
    }

    public void setMtu(int mtu) throws IOException {
        NetDevice.setMtu(localName(), mtu);
    }

    public void setMac(byte[] mac) throws IOException {
        NetDevice.setMac(localName(), mac);
    }

    /**
     * Moves the device from our network namespace into {@code netns} (a name under /var/run/netns) by
     * running {@code ip}; cold path, once. The queue fds keep working: they belong to the device, not
     * to a namespace.
     *
     * <p>Afterwards the device is invisible to the ioctls of {@link #setUp}, {@link #setMtu} and
     * {@link #setMac} (they resolve names in our namespace), which then throw: configure MTU and MAC
     * <em>before</em> the move, as both survive it. The kernel closes a device while moving it, so if it
     * was up this brings it up again inside {@code netns} ({@code ip -n}). The ifindex is re-read
     * because the move may renumber it.
     */
    public void moveToNetns(String netns) throws IOException {
        boolean wasUp = NetDevice.isUp(localName());
        IpCommand.run(null, "link", "set", "dev", name, "netns", netns);
        this.netns = netns;
        if (wasUp) {
            IpCommand.run(netns, "link", "set", "dev", name, "up");
        }
        ifindex = IpCommand.ifindex(netns, name);
    }

    /** Closes all queue fds; idempotent. A device we created (not persistent) disappears with them. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            for (int fd : fds) {
                LibC.INSTANCE.close(fd);
            }
        }
    }

    @Override
    public String toString() {
        return "TapDevice[" + name + ", queues=" + Arrays.toString(fds) + ", offloads=" + offloads
                + (preexisting ? ", preexisting" : "") + (netns != null ? ", netns=" + netns : "") + "]";
    }

    private String localName() {
        if (netns != null) {
            throw new IllegalStateException(name + " was moved to netns " + netns
                    + "; configure it before moveToNetns (see its Javadoc)");
        }
        return name;
    }

    private static int openTun() throws ErrnoException {
        int fd = LibC.INSTANCE.open(TUN_PATH, LibC.O_RDWR | LibC.O_NONBLOCK | LibC.O_CLOEXEC);
        if (fd < 0) {
            throw ErrnoException.last("open " + TUN_PATH);
        }
        return fd;
    }

    /**
     * TUNSETIFF; returns the device name the kernel used, or null if {@code busyMeansExists} and the
     * device already exists (EBUSY from IFF_TUN_EXCL).
     */
    private static String setIff(int fd, String name, int flags, boolean busyMeansExists) throws ErrnoException {
        try (IfReq req = new IfReq(name)) {
            req.putShort((short) flags);
            if (LibC.INSTANCE.ioctl(fd, TUNSETIFF, req.address()) == 0) {
                return req.name();
            }
            int errno = LibC.errno();
            if (busyMeansExists && errno == LibC.EBUSY) {
                return null;
            }
            throw new ErrnoException("TUNSETIFF " + name
                    + (errno == LibC.EINVAL ? " (an existing device must be a multi_queue tap)" : ""), errno);
        }
    }

    private static void setVnetHeaderSize(int fd) throws ErrnoException {
        try (NativeBuffer size = new NativeBuffer(4)) {
            size.putInt(0, VNET_HEADER_SIZE);
            if (LibC.INSTANCE.ioctl(fd, TUNSETVNETHDRSZ, size.address()) < 0) {
                throw ErrnoException.last("TUNSETVNETHDRSZ " + VNET_HEADER_SIZE);
            }
        }
    }

    private static Set<Offload> negotiateOffloads(int fd) throws ErrnoException {
        for (Set<Offload> choice : OFFLOAD_CHOICES) {
            int bits = 0;
            for (Offload offload : choice) {
                bits |= offload.flag();
            }
            if (LibC.INSTANCE.ioctl(fd, TUNSETOFFLOAD, bits) == 0) {
                return choice;
            }
            if (LibC.errno() != LibC.EINVAL) {
                throw ErrnoException.last("TUNSETOFFLOAD " + choice);
            }
        }
        throw new ErrnoException("TUNSETOFFLOAD " + OFFLOAD_CHOICES.get(OFFLOAD_CHOICES.size() - 1), LibC.EINVAL);
    }
}
