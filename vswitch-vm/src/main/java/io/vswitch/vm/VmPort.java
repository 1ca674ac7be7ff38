package io.vswitch.vm;

import io.vswitch.linux.UnixAddress;
import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.port.Offloads;
import io.vswitch.core.port.Port;
import io.vswitch.linux.PollableQueue;
import io.vswitch.linux.SocketFile;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLongArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A switch port to a QEMU guest NIC over a unix socket: {@link VmStreamPort} for
 * {@code -netdev stream} (4-byte big-endian length before each frame) and {@link VmDgramPort} for
 * {@code -netdev dgram} (one frame per datagram).
 *
 * <p>One queue, no offloads: QEMU's socket backends carry plain Ethernet frames without a virtio-net
 * header, so the bridge segments and checksums TSO super-frames from TAPs in software before they
 * reach a VM port ({@link Offloads#NONE}). Received frames are carved from the queue's own
 * {@link FragAllocator} with the usual headroom, exactly like a TAP queue's, and go through the same
 * {@code Ingress}/{@code Forwarder} path on the daemon's datapath thread.
 *
 * <p>The socket file is created at {@link #socketPath()} (a stale one left by a dead process is
 * replaced; one another process still serves is not) and removed on {@link #close()} if it is still
 * ours.
 */
public abstract class VmPort implements Port {
    private static final Logger LOG = LoggerFactory.getLogger(VmPort.class);

    /** Where a VM port's socket goes when no path is given. */
    public static final Path DEFAULT_SOCKET_DIR = Path.of("/run/vswitch");
    /** MTU assumed when none is given, as for a guest's virtio-net NIC. */
    public static final int DEFAULT_MTU = 1500;
    /** Ethernet header plus two VLAN tags on top of the MTU, as for TAP ports. */
    public static final int L2_OVERHEAD = 14 + 8;

    /** Connection and datagram events a VM port counts (each also logged). */
    public enum Event {
        /** A guest connected (stream) and now owns the port. */
        CONNECTED,
        /** A second connection while a guest owns the port: closed at once. */
        REFUSED,
        /** The guest closed its connection or exited (stream). */
        PEER_CLOSED,
        /** Reading the connection failed (stream); the connection was closed. */
        READ_ERROR,
        /** A length prefix of zero (stream); the connection was closed. */
        ZERO_LENGTH,
        /** A length prefix over {@link Port#maxFrameLength()} (stream); the connection was closed. */
        OVERSIZE_LENGTH,
        /** Part of a frame arrived and the rest did not within the stall timeout (stream); closed. */
        STALLED,
        /** A datagram from another socket than the configured QEMU peer (dgram); dropped. */
        FOREIGN_SENDER,
        /** A datagram longer than {@link Port#maxFrameLength()} (dgram); dropped. */
        OVERSIZE_DATAGRAM,
        /** An empty datagram (dgram); dropped. */
        EMPTY_DATAGRAM,
        /** The QEMU peer's socket appeared (dgram): link up. */
        PEER_UP,
        /** The QEMU peer's socket went away (dgram): link down. */
        PEER_DOWN;

        /** Name as shown to operators: lower case with dashes. */
        public String label() {
            return name().toLowerCase(Locale.ROOT).replace('_', '-');
        }
    }

    private final String name;
    private final Path socketPath;
    private final int mtu;
    private final int maxFrameLength;
    private final AtomicLongArray events = new AtomicLongArray(Event.values().length);
    private SocketFile socketFile;

    VmPort(String name, Path socketPath, Integer mtu) {
        this.name = Objects.requireNonNull(name, "name");
        this.socketPath = socketPath.toAbsolutePath().normalize();
        this.mtu = mtu == null ? DEFAULT_MTU : mtu;
        if (this.mtu < 68 || this.mtu + L2_OVERHEAD > FragAllocator.MAX_LARGE_FRAME) {
            throw new IllegalArgumentException("mtu " + this.mtu + " is out of range for a VM port");
        }
        this.maxFrameLength = this.mtu + L2_OVERHEAD;
        UnixAddress.pathBytes(this.socketPath); // fail early on a path the kernel cannot bind
    }

    /** {@code /run/vswitch/NAME.sock}. */
    public static Path defaultSocketPath(String portName) {
        return DEFAULT_SOCKET_DIR.resolve(portName + ".sock");
    }

    @Override
    public final String name() {
        return name;
    }

    /** The unix socket this port serves (absolute). */
    public final Path socketPath() {
        return socketPath;
    }

    public final int mtu() {
        return mtu;
    }

    @Override
    public final int queueCount() {
        return 1;
    }

    @Override
    public abstract PollableQueue queue(int index);

    /** QEMU's socket backends have no virtio-net header: frames must arrive segmented and checksummed. */
    @Override
    public final int offloads() {
        return Offloads.NONE;
    }

    @Override
    public final int maxFrameLength() {
        return maxFrameLength;
    }

    /**
     * The {@code -netdev} option value that attaches a QEMU guest NIC to this port, e.g.
     * {@code stream,id=vm0,server=off,addr.type=unix,addr.path=/run/vswitch/vm0.sock}; use it as
     * {@code -netdev VALUE -device virtio-net-pci,netdev=ID}.
     */
    public abstract String qemuNetdev();

    /** The QEMU netdev id used in {@link #qemuNetdev()}: the port name, prefixed if QEMU would reject it. */
    public final String qemuId() {
        return Character.isLetter(name.charAt(0)) ? name : "vsw-" + name;
    }

    /** How often {@code event} happened on this port. */
    public final long count(Event event) {
        return events.get(event.ordinal());
    }

    /** The non-zero event counts by {@link Event#label()}, for {@code show}. */
    public final Map<String, Long> eventCounts() {
        Map<String, Long> out = new LinkedHashMap<>();
        for (Event e : Event.values()) {
            long n = events.get(e.ordinal());
            if (n != 0) {
                out.put(e.label(), n);
            }
        }
        return out;
    }

    final void counted(Event event) {
        events.incrementAndGet(event.ordinal());
    }

    /** Escapes a value for QEMU's option syntax, where a comma is written twice. */
    static String qemuValue(Object value) {
        return value.toString().replace(",", ",,");
    }

    // ---- socket file ----

    /**
     * Creates a non-blocking unix socket of {@code type} bound to {@link #socketPath()}, creating the
     * directory if needed and replacing a stale socket file that no process serves any more.
     */
    final int bindSocket(int type, UnixAddress address) throws IOException {
        socketFile = SocketFile.bind("port " + name, socketPath, type, address);
        return socketFile.fd();
    }

    /** Removes the socket file if it is still the one this port bound. */
    final void removeSocketFile() {
        if (socketFile != null) {
            socketFile.remove();
        }
    }

    static Logger log() {
        return LOG;
    }
}
