package io.vswitch.system;

import io.vswitch.core.port.Offloads;
import io.vswitch.core.port.Port;
import io.vswitch.linux.ErrnoException;
import io.vswitch.linux.LibC;
import io.vswitch.linux.NetDevice;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLongArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A switch port on an interface that already exists: the host's NIC (the uplink to the LAN), a veth a
 * container runtime made, a bond. The AF_PACKET mirror of a TAP port: one packet socket per queue
 * ({@link SystemQueue}, set up by {@link PacketSocket}) in one hash fanout group, virtio-net headers so
 * super-frames cross whole, each queue read through its own receive ring ({@link PacketRing}) by its
 * own datapath thread into its own fragments.
 *
 * <p><b>The interface stays the operator's.</b> The port never deletes it and never changes its
 * flags, MTU or address: promiscuous mode is a membership of the sockets, which the kernel counts and
 * drops when they close, so after {@link #close()} (or a crash) the interface is as it was.
 *
 * <p><b>Link.</b> {@link #linkUp()} is true while the interface exists, is up and has carrier; a
 * {@link LinkWatcher} follows changes as rtnetlink announces them. An interface deleted (or moved to
 * another namespace) is {@link #gone()} for good, like a deleted TAP: the port stays down, its queues
 * report -1 and the registry flushes what was learned behind it; a new interface of the same name is
 * a new port ({@code del-port}, {@code add-port}).
 *
 * <p><b>Threads.</b> Link state is written under this object's lock by the watcher thread and by
 * datapath threads that saw ENETDOWN/ENXIO, and read through volatiles by anyone; the event counters
 * are atomic. The queues' sockets and rings are closed in {@link #close()} only, after the registry
 * stopped the threads that use them.
 */
public final class SystemPort implements Port {
    private static final Logger LOG = LoggerFactory.getLogger(SystemPort.class);
    private static final int ARPHRD_ETHER = 1;
    /** What packet_snd() accepts for a non-GSO frame: the MTU plus Ethernet header and one VLAN tag. */
    private static final int ETHERNET_AND_TAG = 14 + 4;

    /** Things that happen to a system port's frames outside the bridge's drop reasons. */
    public enum Event {
        /** A received super-frame the kernel could not describe in a virtio-net header (it dropped it). */
        BAD_VNET_HEADER("bad-vnet-header"),
        /** A received frame longer than the largest buffer (64 KiB + headers); skipped. */
        RECEIVED_OVERSIZE("rx-oversize"),
        /** Reading a frame queued beside the receive ring failed for another reason; it was skipped. */
        RECEIVE_ERROR("rx-error"),
        /**
         * Frames the kernel dropped before they reached the receive ring (PACKET_STATISTICS tp_drops):
         * the ring was full because the queue's thread fell behind, or a super-frame could not be
         * described in a virtio-net header; and frames too big for a ring slot that came truncated
         * because the socket's receive buffer had no room for the whole copy.
         */
        KERNEL_DROPS("rx-kernel-drops");

        private final String label;

        Event(String label) {
            this.label = label;
        }

        public String label() {
            return label;
        }
    }

    private final String name;
    private final int ifindex;
    private final SystemQueue[] queues;
    private final LinkWatcher watcher;
    private final AtomicLongArray events = new AtomicLongArray(Event.values().length);
    private volatile boolean up;
    private volatile boolean gone;
    /** Transitions to down, counted by {@link #checkLink} (its lock makes it the only writer). */
    private volatile long linkDowns;
    /** Until the first {@link #checkLink()} reads the MTU: what a default 1500-byte MTU allows. */
    private volatile int maxFrameLength = 1500 + ETHERNET_AND_TAG;

    private SystemPort(String name, int ifindex, int queueCount) throws IOException {
        this.name = name;
        this.ifindex = ifindex;
        this.queues = new SystemQueue[queueCount];
        // Subscribe before the first read of the state, so no change in between goes unseen.
        this.watcher = new LinkWatcher(this, ifindex);
        int opened = 0;
        try {
            checkLink();
            int group = 0;
            for (int q = 0; q < queueCount; q++) {
                queues[opened++] = SystemQueue.open(this, q, name, ifindex);
                if (queueCount > 1) {
                    group = PacketSocket.joinFanout(queues[q].fd(), group, name);
                }
            }
            PacketSocket.addPromiscuousMembership(queues[0].fd(), ifindex, name);
        } catch (IOException | RuntimeException e) {
            for (int q = 0; q < opened; q++) {
                queues[q].close();
            }
            watcher.close();
            throw e;
        }
        watcher.start();
    }

    /**
     * Attaches the existing Ethernet interface {@code name} (in our network namespace) with
     * {@code queueCount} queues. Several queues need the interface to be up (fanout needs running
     * sockets).
     */
    public static SystemPort open(String name, int queueCount) throws IOException {
        if (queueCount < 1) {
            throw new IllegalArgumentException("queues must be positive: " + queueCount);
        }
        int ifindex;
        try {
            ifindex = NetDevice.ifindex(name);
        } catch (ErrnoException e) {
            if (e.errno() == LibC.ENODEV) {
                throw new IOException("interface " + name + " does not exist: a system port attaches an existing"
                        + " interface (check `ip link`), while --type tap creates one", e);
            }
            throw e;
        }
        requireEthernet(name);
        return new SystemPort(name, ifindex, queueCount);
    }

    private static void requireEthernet(String name) throws IOException {
        Path type = Path.of("/sys/class/net", name, "type");
        if (Files.exists(type) && Integer.parseInt(Files.readString(type).trim()) != ARPHRD_ETHER) {
            throw new IOException("interface " + name + " is not an Ethernet interface (link type "
                    + Files.readString(type).trim() + "): a switch port must carry Ethernet frames");
        }
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String kind() {
        return "system";
    }

    /** The interface's index when it was attached. */
    public int ifindex() {
        return ifindex;
    }

    @Override
    public int queueCount() {
        return queues.length;
    }

    @Override
    public SystemQueue queue(int index) {
        return queues[index];
    }

    /** What the kernel's packet_snd() takes through a virtio-net header; it segments for the device if needed. */
    @Override
    public int offloads() {
        return Offloads.CSUM | Offloads.TSO4 | Offloads.TSO6 | Offloads.TSO_ECN;
    }

    @Override
    public int maxFrameLength() {
        return maxFrameLength;
    }

    @Override
    public boolean linkUp() {
        return up && !gone;
    }

    @Override
    public long linkDowns() {
        return linkDowns;
    }

    /** True once the interface was deleted or left our namespace; never false again. */
    public boolean gone() {
        return gone;
    }

    public long count(Event event) {
        return events.get(event.ordinal());
    }

    /** Non-zero event counts by {@link Event#label()}, for {@code show} (cold path). */
    public Map<String, Long> eventCounts() {
        Map<String, Long> out = new LinkedHashMap<>();
        for (Event e : Event.values()) {
            long n = events.get(e.ordinal());
            if (n != 0) {
                out.put(e.label(), n);
            }
        }
        return out;
    }

    void counted(Event event) {
        events.incrementAndGet(event.ordinal());
    }

    void counted(Event event, long times) {
        events.addAndGet(event.ordinal(), times);
    }

    /**
     * Re-reads whether the interface exists, is up and has carrier, and its MTU (cold path: on link
     * events and when a socket reports the interface down or missing).
     */
    synchronized void checkLink() {
        if (gone) {
            return;
        }
        try {
            String current = NetDevice.nameOf(ifindex);
            if (current == null) {
                if (up) {
                    linkDowns++;
                }
                gone = true;
                LOG.warn("port {}: interface deleted or moved to another namespace; port is down", name);
                return;
            }
            int flags = NetDevice.flags(current);
            maxFrameLength = NetDevice.mtu(current) + ETHERNET_AND_TAG;
            boolean nowUp = (flags & NetDevice.IFF_UP) != 0 && (flags & NetDevice.IFF_RUNNING) != 0;
            if (nowUp != up) {
                if (!nowUp) {
                    linkDowns++;
                }
                up = nowUp;
                LOG.info("port {}: interface {} is {}", name, current, nowUp ? "up" : "down (or has no carrier)");
            }
        } catch (ErrnoException e) {
            // Renamed or deleted between the two ioctls: the rtnetlink message for that follows.
            LOG.debug("port {}: cannot read link state: {}", name, e.getMessage());
        }
    }

    /** Stops following the link and closes the sockets (promiscuous mode ends with them); the interface stays. */
    @Override
    public void close() {
        watcher.close();
        for (SystemQueue q : queues) {
            q.close();
        }
    }
}
