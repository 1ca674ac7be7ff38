package io.vswitch.vxlan;

import io.vswitch.core.fdb.Fdb;
import io.vswitch.core.frame.DropReason;
import io.vswitch.core.port.Offloads;
import io.vswitch.core.port.Port;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLongArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A VXLAN tunnel port (RFC 7348): one VNI of a local VTEP, with its remote VTEPs. Frames the bridge
 * sends here are encapsulated in front of their first byte and sent to the VTEP behind their
 * destination MAC, or to every remote VTEP (head-end replication) when that is unknown or the frame is
 * broadcast or multicast. Received frames are decapsulated where they were read and enter the bridge
 * like any port's.
 *
 * <p><b>MAC table.</b> Besides the bridge's FDB (MAC → this port), the port keeps which VTEP each remote
 * MAC was last seen behind (the kernel's vxlan FDB): learned on receive, static with
 * {@code vswitch fdb add MAC --port NAME --remote ADDR}, aged like the bridge's. It is an {@link Fdb}
 * whose "ports" are indexes into the {@link RemoteTable}: lock-free lookups for every transmitting thread.
 *
 * <p><b>MTU.</b> Frames longer than the underlay MTU minus the outer headers ({@link #innerMtu()} + 14)
 * cannot be sent: TCP super-frames are cut to fit by the bridge's segmenter, other frames are dropped
 * as {@link DropReason#TOO_BIG_FOR_TUNNEL}. A jumbo underlay (MTU 9000) gives an inner MTU of 8950,
 * up to {@link VxlanSettings#MAX_INNER_MTU}; received frames that long are read whole.
 */
public final class VxlanPort implements Port {
    private static final Logger LOG = LoggerFactory.getLogger(VxlanPort.class);
    /** MACs the port remembers a VTEP for. */
    static final int MAX_MACS = 16384;

    private final String name;
    private final VxlanSettings settings;
    private final int vni;
    private final RemoteTable remotes;
    private final Fdb macs = new Fdb(MAX_MACS, MAX_MACS, RemoteTable.MAX_REMOTES);
    private final AtomicLongArray drops = new AtomicLongArray(VxlanDrop.values().length);
    private final VxlanQueue queue;
    private final VxlanSocket socket;
    private final int innerMtu;
    private volatile boolean closed;

    private VxlanPort(String name, VxlanSettings settings) throws IOException {
        this.name = name;
        this.settings = settings;
        this.vni = settings.vni();
        this.remotes = new RemoteTable(settings.local().isIpv6(), settings.dstPort(), settings.remotes(), settings.anyRemote());
        this.queue = new VxlanQueue(this);
        try {
            this.socket = VxlanSocket.join(this);
        } catch (IOException | RuntimeException e) {
            queue.close();
            throw e;
        }
        this.innerMtu = socket.innerMtuOf(settings);
        queue.attach(socket);
        LOG.info("port {}: vxlan vni {} local {} port {} remotes {}{}, inner MTU {}", name, vni, settings.local(),
                settings.dstPort(), remotes.describe(), settings.anyRemote() ? " + any" : "", innerMtu);
    }

    /** Opens the port: joins (or opens) the socket of its local VTEP. */
    public static VxlanPort open(String name, VxlanSettings settings) throws IOException {
        return new VxlanPort(name, settings);
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String kind() {
        return "vxlan";
    }

    @Override
    public int queueCount() {
        return 1;
    }

    @Override
    public VxlanQueue queue(int index) {
        if (index != 0) {
            throw new IndexOutOfBoundsException("a vxlan port has one queue: " + index);
        }
        return queue;
    }

    VxlanQueue queue() {
        return queue;
    }

    /** None: super-frames are segmented and checksums completed before encapsulation. */
    @Override
    public int offloads() {
        return Offloads.NONE;
    }

    /** The inner MTU plus the inner Ethernet header: what fits the underlay with the outer headers. */
    @Override
    public int maxFrameLength() {
        return innerMtu + 14;
    }

    @Override
    public DropReason oversizeReason() {
        return DropReason.TOO_BIG_FOR_TUNNEL;
    }

    @Override
    public boolean linkUp() {
        return !closed;
    }

    public VxlanSettings settings() {
        return settings;
    }

    public int vni() {
        return vni;
    }

    /** The longest inner frame the port's socket reads whole now (for every VNI on it, see {@link VxlanSocket}). */
    int receiveLimit() {
        return socket.receiveLimit();
    }

    /** The MTU to give tenants behind this port (the kernel vxlan device's MTU). */
    public int innerMtu() {
        return innerMtu;
    }

    RemoteTable remotes() {
        return remotes;
    }

    Fdb macs() {
        return macs;
    }

    boolean closed() {
        return closed;
    }

    void dropped(VxlanDrop reason) {
        drops.incrementAndGet(reason.ordinal());
    }

    public long drops(VxlanDrop reason) {
        return reason.perSocket() ? socket.drops(reason) : drops.get(reason.ordinal());
    }

    /** The VTEP {@code mac} was last seen behind (or was pinned to), or null (cold path: fdb show). */
    public String remoteOf(long mac) {
        int i = macs.lookup(0, mac);
        return i == Fdb.NO_PORT ? null : remotes.address(i).toString();
    }

    /**
     * Pins {@code mac} to the VTEP at {@code remote} (a static entry: never ages, never moves).
     *
     * @throws IllegalArgumentException if the address is not one of the port's remotes (and the port does not accept any)
     */
    public void addStatic(long mac, String remote) {
        UnderlayAddress address = UnderlayAddress.parse(remote, "--remote");
        int i = remotes.indexFor(address);
        if (i < 0) {
            throw new IllegalArgumentException(address + " is not a remote of port " + name + " (remotes: "
                    + String.join(", ", remotes.describe()) + "): add it to the port's --remote list, or add the port with --remote any");
        }
        macs.addStatic(0, mac, i);
    }

    /** Forgets where {@code mac} is (after {@code fdb del}). */
    public void forget(long mac) {
        macs.remove(0, mac);
    }

    /** Forgets learned VTEPs of MACs not seen for {@code ageingNanos}; called by housekeeping. */
    public int age(long now, long ageingNanos) {
        macs.setAgeingNanos(ageingNanos);
        return macs.age(now);
    }

    /** Settings, remotes and bad-input counters, for {@code show} (cold path). */
    public Map<String, Object> describe() {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("vni", vni);
        out.put("local", settings.local().toString());
        out.put("dstPort", settings.dstPort());
        out.put("remotes", remotes.describe());
        out.put("acceptsAnyRemote", settings.anyRemote());
        if (settings.netns() != null) {
            out.put("netns", settings.netns());
        }
        out.put("underlayMtu", socket.underlayMtu);
        out.put("innerMtu", innerMtu);
        out.put("socketOptions", settings.socketOptions());
        out.put("receivingPort", socket.leaderName());
        out.put("remoteMacs", macs.learnedCount() + macs.staticCount());
        Map<String, Long> bad = new LinkedHashMap<>();
        for (VxlanDrop d : VxlanDrop.values()) {
            long n = drops(d);
            if (n != 0) {
                bad.put(d.label(), n);
            }
        }
        out.put("networkDrops", bad);
        return out;
    }

    /** Leaves the socket (closing it with the last port). Call after this port's datapath thread stopped. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        socket.leave(this);
        queue.close();
    }
}
