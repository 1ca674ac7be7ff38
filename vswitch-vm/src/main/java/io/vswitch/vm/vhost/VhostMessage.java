package io.vswitch.vm.vhost;

import io.vswitch.linux.NativeBuffer;

/**
 * One vhost-user message in native memory: the 12-byte header (request, flags, payload size, all
 * little-endian u32) and its payload, for reading a request and for building the reply in place.
 * Owned by the connection's control thread.
 */
final class VhostMessage implements AutoCloseable {
    static final int HEADER = 12;
    /** Larger than any request this back-end takes (SET_MEM_TABLE with 8 regions: 264 bytes). */
    static final int MAX_PAYLOAD = 4096;
    static final int MAX_REGIONS = 8;
    static final int REGION_SIZE = 32;

    static final int VERSION = 0x1;
    static final int VERSION_MASK = 0x3;
    static final int FLAG_REPLY = 0x4;
    static final int FLAG_NEED_REPLY = 0x8;

    /** The index bits of a SET_VRING_KICK/CALL/ERR payload, and the flag that says no fd came. */
    static final long VRING_INDEX_MASK = 0xff;
    static final long VRING_NOFD = 0x100;

    private final NativeBuffer buffer = new NativeBuffer(HEADER + MAX_PAYLOAD);

    long address() {
        return buffer.address();
    }

    long payloadAddress() {
        return buffer.address() + HEADER;
    }

    int request() {
        return buffer.getInt(0);
    }

    int flags() {
        return buffer.getInt(4);
    }

    int size() {
        return buffer.getInt(8);
    }

    boolean needsReply() {
        return (flags() & FLAG_NEED_REPLY) != 0;
    }

    /** Reads a little-endian u32 of the payload; {@code offset} must be within {@link #size()}. */
    int u32(int offset) {
        checkPayload(offset, 4);
        return buffer.getInt(HEADER + offset);
    }

    long u64(int offset) {
        checkPayload(offset, 8);
        return buffer.getLong(HEADER + offset);
    }

    private void checkPayload(int offset, int length) {
        if (offset < 0 || offset + length > size()) {
            throw new IllegalStateException("payload read at " + offset + "+" + length + " past its " + size() + " bytes");
        }
    }

    /**
     * Why a header announcing {@code request} with {@code flags} and a payload of {@code size} bytes and
     * {@code fds} descriptors is malformed, or null when it is acceptable.
     */
    static String problem(int request, int flags, int size, int fds) {
        if ((flags & VERSION_MASK) != VERSION) {
            return "protocol version " + (flags & VERSION_MASK) + " (this back-end speaks version 1)";
        }
        if ((flags & FLAG_REPLY) != 0) {
            return "a reply where a request was expected";
        }
        if (size < 0 || size > MAX_PAYLOAD) {
            return "payload of " + Integer.toUnsignedString(size) + " bytes (at most " + MAX_PAYLOAD + ")";
        }
        VhostRequest r = VhostRequest.of(request);
        if (r == null) {
            return null; // unknown requests are answered, not fatal
        }
        if (r.payload.size >= 0 && size != r.payload.size) {
            return r + " with a payload of " + size + " bytes (expected " + r.payload.size + ")";
        }
        if (r == VhostRequest.SET_MEM_TABLE && (size < 8 || (size - 8) % REGION_SIZE != 0)) {
            return "SET_MEM_TABLE payload of " + size + " bytes is not 8 + 32 per region";
        }
        return null;
    }

    /** Turns the request in this buffer into its reply header with {@code payloadSize} bytes to follow. */
    void makeReply(int payloadSize) {
        buffer.putInt(4, VERSION | FLAG_REPLY);
        buffer.putInt(8, payloadSize);
    }

    void putU64(int offset, long value) {
        buffer.putLong(HEADER + offset, value);
    }

    void putU32(int offset, int value) {
        buffer.putInt(HEADER + offset, value);
    }

    /** For tests: writes a request header. */
    void setHeader(int request, int flags, int size) {
        buffer.putInt(0, request);
        buffer.putInt(4, flags);
        buffer.putInt(8, size);
    }

    @Override
    public void close() {
        buffer.close();
    }
}
