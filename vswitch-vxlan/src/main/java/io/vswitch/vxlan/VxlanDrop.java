package io.vswitch.vxlan;

import java.util.Locale;

/**
 * Why a datagram that reached a VXLAN socket was not turned into a frame. Bad input from the network
 * is counted here, each kind on its own, and never reaches the bridge. A packet whose header is bad or
 * whose VNI has no port is not yet any port's: it is counted on the socket ({@link #perSocket}) and
 * shown on each port that shares it; the rest are counted on the port of the packet's VNI.
 */
public enum VxlanDrop {
    /** Shorter than a VXLAN header plus an Ethernet header. */
    TRUNCATED(true),
    /** The I flag (VNI valid) is not set. */
    I_FLAG_MISSING(true),
    /** A reserved bit of the header is set (e.g. a GBP or GPE packet). */
    RESERVED_BITS(true),
    /** No port on this socket has the packet's VNI. */
    UNKNOWN_VNI(true),
    /** Longer than a receive fragment holds (an underlay MTU over about 2000 bytes). */
    OVERSIZE(true),
    /** The outer source is not one of the port's remotes and the port was not added with {@code --remote any}. */
    UNKNOWN_VTEP(false),
    /** Learning a new VTEP (with {@code --remote any}) found the port's VTEP table full. */
    VTEP_TABLE_FULL(false);

    private final boolean perSocket;

    VxlanDrop(boolean perSocket) {
        this.perSocket = perSocket;
    }

    /** Counted on the socket, before the packet is known to be any port's. */
    public boolean perSocket() {
        return perSocket;
    }

    /** The name shown by {@code show}: lower case, hyphenated. */
    public String label() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }
}
