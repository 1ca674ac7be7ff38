package io.vswitch.vm.vhost;

import io.vswitch.core.port.Offloads;
import io.vswitch.core.port.Port;
import io.vswitch.linux.ErrnoException;
import io.vswitch.linux.PollableQueue;
import io.vswitch.linux.UnixAddress;
import io.vswitch.vm.VmPort;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A switch port to a QEMU guest over vhost-user: the guest's virtqueues are read and written directly
 * in its shared memory, QEMU only sets them up over the unix socket.
 *
 * <p>Queue pair {@code q} ({@link VhostQueue}) owns rings {@code 2q} (guest RX) and {@code 2q+1}
 * (guest TX) and is one datapath queue with its own fragment allocator. The socket is served by one
 * control thread ({@link VhostConnector}) that connects (client mode, the default: QEMU listens,
 * we reconnect with back-off whenever either side restarts) or listens (server mode), and feeds the
 * requests to the {@link VhostDevice}. Offloads are what the guest negotiated: a guest that took
 * GUEST_CSUM/GUEST_TSO4/6 gets TSO super-frames whole; segments otherwise.
 *
 * <p><b>Closing.</b> {@link #close()} may run only after the datapath threads of this port's queues
 * stopped and no other datapath thread can still reach the port (the daemon's registry joins the
 * port's threads, detaches it and waits out a {@code Quiescence} grace period first). It stops the
 * control thread, which resets the device: each ring is reset under its own lock, so even a transmit
 * that raced the removal either finished before or finds the ring down, and only then is guest
 * memory unmapped.
 */
public final class VhostUserPort implements Port {
    private static final Logger LOG = LoggerFactory.getLogger(VhostUserPort.class);

    /** Who creates the socket. */
    public enum Mode {
        /** QEMU serves the socket, vswitch connects and reconnects (like OVS's dpdkvhostuserclient). */
        CLIENT,
        /** vswitch serves the socket, QEMU connects ({@code reconnect=1} on its chardev). */
        SERVER;

        public static Mode parse(String text) {
            try {
                return valueOf(text.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("mode '" + text + "' is unknown: use client or server");
            }
        }

        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** Owner, group and permission bits for a server-mode socket; nulls inherit. */
    public record SocketAccess(String owner, String group, String mode) {
        public static final SocketAccess INHERIT = new SocketAccess(null, null, null);
    }

    public static final int MAX_QUEUES = 16;

    private final String name;
    private final Path socketPath;
    private final Mode mode;
    private final int maxFrameLength;
    private final int mtu;
    private final VhostCounters counters = new VhostCounters();
    private final SplitVirtqueue[] rings;
    private final VhostQueue[] queues;
    private final VhostDevice device;
    private final VhostConnector connector;
    private volatile int offloads = Offloads.NONE;
    private volatile boolean mergeable;
    private volatile boolean closed;

    private VhostUserPort(String name, Path socketPath, Mode mode, int queueCount, Integer mtu, SocketAccess access)
            throws IOException {
        this.name = Objects.requireNonNull(name, "name");
        this.socketPath = socketPath.toAbsolutePath().normalize();
        this.mode = mode;
        if (queueCount < 1 || queueCount > MAX_QUEUES) {
            throw new IllegalArgumentException("queues=" + queueCount + " is out of range: use 1-" + MAX_QUEUES);
        }
        this.mtu = mtu == null ? VmPort.DEFAULT_MTU : mtu;
        this.maxFrameLength = this.mtu + VmPort.L2_OVERHEAD;
        UnixAddress.pathBytes(this.socketPath);
        rings = new SplitVirtqueue[2 * queueCount];
        for (int i = 0; i < rings.length; i++) {
            rings[i] = new SplitVirtqueue(i, counters);
        }
        queues = new VhostQueue[queueCount];
        try {
            for (int q = 0; q < queueCount; q++) {
                queues[q] = new VhostQueue(this, q, rings[2 * q], rings[2 * q + 1], counters);
            }
        } catch (ErrnoException e) {
            closeQueues();
            throw e;
        }
        device = new VhostDevice(name, rings, new VhostDevice.Listener() {
            @Override
            public void kickChanged(int ring, int oldFd, int newFd) {
                if (ring % 2 == 1) {
                    queues[ring / 2].watchKick(oldFd, newFd);
                }
            }

            @Override
            public void negotiated(long features) {
                offloads = VhostFeatures.guestOffloads(features);
                mergeable = VhostFeatures.has(features, VhostFeatures.NET_F_MRG_RXBUF);
            }
        });
        try {
            connector = new VhostConnector(this, device, counters, access);
        } catch (IOException | RuntimeException e) {
            closeQueues();
            throw e;
        }
    }

    /**
     * Opens the port and starts serving its socket.
     *
     * @param mtu the guest's MTU, or null for 1500
     */
    public static VhostUserPort open(String name, Path socketPath, Mode mode, int queues, Integer mtu, SocketAccess access)
            throws IOException {
        VhostUserPort port = new VhostUserPort(name, socketPath, mode, queues, mtu, access);
        port.connector.start();
        return port;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String kind() {
        return "vhost-user";
    }

    public Mode mode() {
        return mode;
    }

    public Path socketPath() {
        return socketPath;
    }

    @Override
    public int queueCount() {
        return queues.length;
    }

    @Override
    public PollableQueue queue(int index) {
        return queues[index];
    }

    /** What the guest negotiated (GUEST_CSUM, GUEST_TSO4/6, GUEST_ECN); none while no guest is there. */
    @Override
    public int offloads() {
        return offloads;
    }

    boolean mergeable() {
        return mergeable;
    }

    @Override
    public int maxFrameLength() {
        return maxFrameLength;
    }

    /** True while a front-end is connected and the guest's first queue pair runs. */
    @Override
    public boolean linkUp() {
        return connector.connected() && (rings[0].ready() || rings[1].ready());
    }

    /** True while a front-end is connected on the socket. */
    public boolean connected() {
        return connector.connected();
    }

    /** Process id of the connected QEMU (SO_PEERCRED), or -1. */
    public long peerPid() {
        return connector.peerPid();
    }

    /** The features the guest acknowledged on the current connection (0 when none). */
    public long features() {
        return device.features();
    }

    public long count(VhostEvent event) {
        return counters.get(event);
    }

    /**
     * Used-buffer notifications (call eventfd writes) sent for queue pair {@code queue}'s guest RX ring,
     * i.e. for the frames this port delivered to the guest: what its interrupts for received frames
     * cost at most (the guest may coalesce them). Port life; any thread.
     */
    public long guestRxNotifications(int queue) {
        return rings[2 * queue].notifications();
    }

    /** Like {@link #guestRxNotifications} for the guest's TX ring: the buffers of its sent frames given back. */
    public long guestTxNotifications(int queue) {
        return rings[2 * queue + 1].notifications();
    }

    /** Non-zero event counts by label, for {@code show}. */
    public Map<String, Long> eventCounts() {
        return counters.nonZero();
    }

    /** Which rings of the current connection run (for {@code show} and tests). */
    public List<String> ringStates() {
        List<String> out = new ArrayList<>();
        for (SplitVirtqueue r : rings) {
            out.add(r.ready() ? "running" : r.broken() ? "stopped-by-error" : "idle");
        }
        return out;
    }

    /**
     * The QEMU command-line arguments that attach a guest to this port, one option and its value per
     * pair of list elements. {@code guestMemory} is the guest's RAM ({@code -m}), e.g. {@code 256M}.
     * {@code tcg}: the guest runs without KVM, where QEMU 7.2 crashes (in {@code msix_set_vector_notifiers})
     * when a vhost-user back-end starts on a device with MSI-X, so the device gets {@code vectors=0}.
     */
    public List<String> qemuArguments(String guestMemory, boolean tcg) {
        String id = qemuId();
        String chardev = "socket,id=chr-" + id + ",path=" + socketPath.toString().replace(",", ",,")
                + (mode == Mode.CLIENT ? ",server=on" : ",reconnect=1");
        int n = queues.length;
        String device = "virtio-net-pci,netdev=" + id + (n > 1 ? ",mq=on" : "")
                + ",vectors=" + (tcg ? 0 : 2 * n + 2);
        return List.of(
                "-object", "memory-backend-memfd,id=mem,size=" + guestMemory + ",share=on",
                "-machine", "memory-backend=mem",
                "-chardev", chardev,
                "-netdev", "vhost-user,id=" + id + ",chardev=chr-" + id + ",queues=" + n,
                "-device", device);
    }

    /** The QEMU id used in {@link #qemuArguments}: the port name, prefixed if QEMU would reject it. */
    public String qemuId() {
        return Character.isLetter(name.charAt(0)) ? name : "vsw-" + name;
    }

    SplitVirtqueue queue0Rx() {
        return rings[0];
    }

    boolean isClosed() {
        return closed;
    }

    /** The guest broke {@code ring}, which stopped (counted by the ring); called once per failure. */
    void ringFailed(SplitVirtqueue ring) {
        LOG.warn("port {}: the guest broke ring {}; it stays stopped until QEMU sets it up again. Events so far: {}",
                name, ring.index, counters.nonZero());
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        connector.stop();
        for (SplitVirtqueue ring : rings) {
            ring.close();
        }
        closeQueues();
    }

    private void closeQueues() {
        for (VhostQueue q : queues) {
            if (q != null) {
                q.close();
            }
        }
    }

    static Logger log() {
        return LOG;
    }
}
