package io.vswitch.core.frame;

/**
 * Why a frame was dropped. Every drop on the data path is counted under exactly one reason, so an
 * operator can tell a malformed sender from a full queue from a policy decision.
 */
public enum DropReason {
    /** Shorter than an Ethernet header (14 bytes). */
    RUNT,
    /** An 802.1Q/802.1ad tag announced but cut off. */
    TRUNCATED_VLAN,
    /** IPv4 header shorter than 20 bytes or cut off. */
    TRUNCATED_IPV4,
    /** IPv4 IHL under 5 or version not 4. */
    BAD_IPV4_HEADER,
    /** IPv4 total length smaller than its header or past the end of the frame. */
    BAD_IPV4_LENGTH,
    /** IPv6 fixed header cut off or version not 6. */
    TRUNCATED_IPV6,
    /** IPv6 payload length past the end of the frame, or an extension header chain cut off. */
    BAD_IPV6_LENGTH,
    /** TCP or UDP header cut off (first fragment only). */
    TRUNCATED_L4,
    /** Source MAC is multicast or broadcast: never learned, never forwarded. */
    MULTICAST_SOURCE,
    /** Source MAC is 00:00:00:00:00:00. */
    ZERO_SOURCE,
    /** VLAN not a member of the ingress port. */
    VLAN_NOT_ALLOWED,
    /** Destination is the port the frame came from. */
    SAME_PORT,
    /**
     * No buffer: a frame already in hand could not be written for lack of memory (the segmenter had
     * no scratch for a segment) and was discarded. A receive the queue's allocator refuses at its cap
     * is not a drop (the frame waits in the kernel's queue) and is counted as the queue's
     * {@code rxNoBuffer}.
     */
    NO_BUFFER,
    /** The output queue would have blocked (EAGAIN); we never block. */
    TX_BUSY,
    /** The output write failed for another reason. */
    TX_ERROR,
    /** Frame longer than the port accepts, or a virtio-net header we cannot honour. */
    OVERSIZE,
    /** Invalid virtio-net header (unknown GSO type, offsets past the frame). */
    BAD_VNET_HEADER,
    /** Port administratively down or its link is gone. */
    PORT_DOWN,
    /** Flooded, but no other forwarding port floods and carries its VLAN (e.g. the only port on the switch). */
    NO_OUTPUT,
    /** Handling the frame raised an exception: a bug, counted so it is seen, never fatal to the thread. */
    INTERNAL_ERROR,
    /**
     * Known unicast whose port is down or does not carry the frame's VLAN: dropped, never flooded
     * (the kernel's {@code br_forward} when {@code should_deliver} says no).
     */
    DESTINATION_UNAVAILABLE,
    /** Too long for a tunnel port: with the outer headers it would not fit the underlay MTU (and it cannot be segmented). */
    TOO_BIG_FOR_TUNNEL;

    private static final DropReason[] VALUES = values();
    private static final String[] LABELS = java.util.Arrays.stream(VALUES)
            .map(r -> r.name().toLowerCase(java.util.Locale.ROOT).replace('_', '-')).toArray(String[]::new);

    /** Reason for a numeric code; codes are the ordinals, kept primitive on the hot path. */
    public static DropReason of(int code) {
        return VALUES[code];
    }

    /**
     * The one spelling of this reason for people and scripts ({@code no-output}): the CLI, its JSON
     * and the metrics' {@code reason} label all use it.
     */
    public String label() {
        return LABELS[ordinal()];
    }

    /** Number of reasons, for sizing counter arrays. */
    public static int count() {
        return VALUES.length;
    }
}
