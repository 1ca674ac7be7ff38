package io.vswitch.vm.vhost;

import io.vswitch.core.port.Offloads;

/** Virtio and vhost-user feature bits this back-end offers, and what the guest's choice means. */
final class VhostFeatures {
    static final int NET_F_CSUM = 0;
    static final int NET_F_GUEST_CSUM = 1;
    static final int NET_F_GUEST_TSO4 = 7;
    static final int NET_F_GUEST_TSO6 = 8;
    static final int NET_F_GUEST_ECN = 9;
    static final int NET_F_HOST_TSO4 = 11;
    static final int NET_F_HOST_TSO6 = 12;
    static final int NET_F_HOST_ECN = 13;
    static final int NET_F_MRG_RXBUF = 15;
    static final int NET_F_MQ = 22;
    static final int RING_F_INDIRECT_DESC = 28;
    static final int RING_F_EVENT_IDX = 29;
    /** vhost-user: GET/SET_PROTOCOL_FEATURES are understood. */
    static final int F_PROTOCOL_FEATURES = 30;
    static final int F_VERSION_1 = 32;

    static final int PROTOCOL_F_MQ = 0;
    static final int PROTOCOL_F_REPLY_ACK = 3;
    static final int PROTOCOL_F_STATUS = 16;

    /** Offered to every front-end. */
    static final long OFFERED = bits(NET_F_CSUM, NET_F_GUEST_CSUM, NET_F_GUEST_TSO4, NET_F_GUEST_TSO6, NET_F_GUEST_ECN,
            NET_F_HOST_TSO4, NET_F_HOST_TSO6, NET_F_HOST_ECN, NET_F_MRG_RXBUF, NET_F_MQ, RING_F_INDIRECT_DESC,
            RING_F_EVENT_IDX, F_PROTOCOL_FEATURES, F_VERSION_1);

    static final long PROTOCOL_OFFERED = bits(PROTOCOL_F_MQ, PROTOCOL_F_REPLY_ACK, PROTOCOL_F_STATUS);

    private VhostFeatures() {
    }

    static long bits(int... bits) {
        long out = 0;
        for (int b : bits) {
            out |= 1L << b;
        }
        return out;
    }

    static boolean has(long features, int bit) {
        return (features & (1L << bit)) != 0;
    }

    /** What frames the guest takes, as {@link Offloads} bits, from the features it acknowledged. */
    static int guestOffloads(long acked) {
        int out = Offloads.NONE;
        if (has(acked, NET_F_GUEST_CSUM)) {
            out |= Offloads.CSUM;
            if (has(acked, NET_F_GUEST_TSO4)) {
                out |= Offloads.TSO4;
            }
            if (has(acked, NET_F_GUEST_TSO6)) {
                out |= Offloads.TSO6;
            }
            if (has(acked, NET_F_GUEST_ECN)) {
                out |= Offloads.TSO_ECN;
            }
        }
        return out;
    }
}
