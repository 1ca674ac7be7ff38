package io.vswitch.core.port;

import io.vswitch.core.frame.DropReason;

/**
 * A switch port: a set of queues to a device, a VM or a tunnel. Created and closed by whoever adds
 * it to the switch (the daemon's port registry); the bridge only uses it.
 */
public interface Port extends AutoCloseable {
    String name();

    /** Kind shown to operators: {@code tap}, {@code vm-stream}, {@code vm-dgram}, ... */
    String kind();

    int queueCount();

    PortQueue queue(int index);

    /** {@link Offloads} bits the port's queues accept on transmit. */
    int offloads();

    /** Largest frame (Ethernet header included, no offload) the port accepts. */
    int maxFrameLength();

    /**
     * Why a frame longer than {@link #maxFrameLength()} is dropped: {@link DropReason#OVERSIZE}, or for a
     * tunnel whose limit is the underlay MTU minus the outer headers, {@link DropReason#TOO_BIG_FOR_TUNNEL}.
     */
    default DropReason oversizeReason() {
        return DropReason.OVERSIZE;
    }

    /** Whether the underlying link still exists and is up. */
    boolean linkUp();

    /**
     * How often the link went down since the port was opened, counted by a port that is told of every
     * transition (e.g. by rtnetlink), or -1 for one that is not; for those the daemon counts the losses
     * it sees when it polls {@link #linkUp()} once a second, which misses a flap shorter than that.
     * Any thread.
     */
    default long linkDowns() {
        return -1;
    }

    /**
     * Releases the device or sockets. Queues must no longer be used: the caller first makes sure that
     * no thread can still be receiving from or transmitting to any of them (the daemon detaches the
     * port and waits out a grace period first), since a closed fd number is soon handed to the next
     * {@code open} and a late write would land there. A flag checked before each write cannot make
     * this safe: the write can still follow the close.
     */
    @Override
    void close();
}
