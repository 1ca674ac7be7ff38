package io.vswitch.vxlan;

import java.util.Locale;

/**
 * Why a datagram that reached a VXLAN socket was not turned into a frame. Bad input from the network
 * is counted here, each kind on its own, and never reaches the bridge.
 */
public enum VxlanDrop {
    /** Shorter than a VXLAN header plus an Ethernet header. */
    TRUNCATED,
    /** The I flag (VNI valid) is not set. */
    I_FLAG_MISSING,
    /** A reserved bit of the header is set (e.g. a GBP or GPE packet). */
    RESERVED_BITS,
    /** No port on this socket has the packet's VNI (counted on the socket, shown on each of its ports). */
    UNKNOWN_VNI,
    /** The outer source is not one of the port's remotes and the port was not added with {@code --remote any}. */
    UNKNOWN_VTEP,
    /** Learning a new VTEP (with {@code --remote any}) found the port's VTEP table full. */
    VTEP_TABLE_FULL,
    /** Longer than a receive fragment holds (an underlay MTU over about 2000 bytes). */
    OVERSIZE;

    /** The name shown by {@code show}: lower case, hyphenated. */
    public String label() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }
}
