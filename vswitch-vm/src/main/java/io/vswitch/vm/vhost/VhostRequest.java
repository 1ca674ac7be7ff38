package io.vswitch.vm.vhost;

/**
 * Front-end requests of the vhost-user protocol (QEMU {@code docs/interop/vhost-user.rst}) that this
 * back-end knows by name, and what their payload must be. Anything else is answered with a
 * REPLY_ACK failure and a log line.
 */
enum VhostRequest {
    GET_FEATURES(1, Payload.NONE),
    SET_FEATURES(2, Payload.U64),
    SET_OWNER(3, Payload.NONE),
    RESET_OWNER(4, Payload.NONE),
    SET_MEM_TABLE(5, Payload.MEMORY),
    SET_LOG_BASE(6, Payload.ANY),
    SET_LOG_FD(7, Payload.ANY),
    SET_VRING_NUM(8, Payload.STATE),
    SET_VRING_ADDR(9, Payload.ADDRESS),
    SET_VRING_BASE(10, Payload.STATE),
    GET_VRING_BASE(11, Payload.STATE),
    SET_VRING_KICK(12, Payload.U64),
    SET_VRING_CALL(13, Payload.U64),
    SET_VRING_ERR(14, Payload.U64),
    GET_PROTOCOL_FEATURES(15, Payload.NONE),
    SET_PROTOCOL_FEATURES(16, Payload.U64),
    GET_QUEUE_NUM(17, Payload.NONE),
    SET_VRING_ENABLE(18, Payload.STATE),
    SEND_RARP(19, Payload.ANY),
    NET_SET_MTU(20, Payload.ANY),
    SET_SLAVE_REQ_FD(21, Payload.ANY),
    GET_CONFIG(24, Payload.ANY),
    SET_CONFIG(25, Payload.ANY),
    SET_STATUS(39, Payload.U64),
    GET_STATUS(40, Payload.NONE);

    /** Payload shapes: the exact size each must have (ANY: up to {@link VhostMessage#MAX_PAYLOAD}). */
    enum Payload {
        NONE(0), U64(8), STATE(8), ADDRESS(40), MEMORY(-1), ANY(-1);

        final int size;

        Payload(int size) {
            this.size = size;
        }
    }

    private static final VhostRequest[] BY_CODE = new VhostRequest[64];

    static {
        for (VhostRequest r : values()) {
            BY_CODE[r.code] = r;
        }
    }

    final int code;
    final Payload payload;

    VhostRequest(int code, Payload payload) {
        this.code = code;
        this.payload = payload;
    }

    /** The request with wire code {@code code}, or null when this back-end does not know it. */
    static VhostRequest of(int code) {
        return code > 0 && code < BY_CODE.length ? BY_CODE[code] : null;
    }
}
