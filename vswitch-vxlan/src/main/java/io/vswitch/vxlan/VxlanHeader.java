package io.vswitch.vxlan;

import java.nio.ByteBuffer;

/**
 * The 8-byte VXLAN header (RFC 7348 section 5): flags (the I bit says the VNI is valid), 24 reserved
 * bits, the 24-bit VNI and 8 more reserved bits.
 *
 * <pre>
 *  0                   1                   2                   3
 * |R|R|R|R|I|R|R|R|            Reserved                           |
 * |                VXLAN Network Identifier (VNI) |   Reserved    |
 * </pre>
 *
 * <p>Validation is the kernel's ({@code vxlan_rcv}), which is stricter than the RFC's "ignore reserved
 * bits on receipt": a header with the I flag missing or any reserved bit set is not a VXLAN packet this
 * port understands (it may be GBP or GPE, which use those bits) and is dropped, each under its own
 * reason.
 */
public final class VxlanHeader {
    /** Bytes of the VXLAN header. */
    public static final int LENGTH = 8;
    /** Bytes of the UDP header written in front of it. */
    public static final int UDP_LENGTH = 8;
    /** The VXLAN port assigned by IANA. */
    public static final int IANA_PORT = 4789;
    public static final int MAX_VNI = 0xff_ffff;
    /** First word of a valid header: only the I flag. */
    static final int FLAGS_WORD = 0x0800_0000;
    private static final int I_FLAG = 0x0800_0000;

    /** {@link #vni} results below zero. */
    public static final int TRUNCATED = -1;
    public static final int NO_I_FLAG = -2;
    public static final int RESERVED_BITS = -3;

    private VxlanHeader() {
    }

    /**
     * Checks the header at {@code at} of a datagram of {@code length} bytes (header included).
     *
     * @return the VNI, or {@link #TRUNCATED}, {@link #NO_I_FLAG} or {@link #RESERVED_BITS}
     */
    public static int vni(ByteBuffer b, int at, int length) {
        if (length < LENGTH) {
            return TRUNCATED;
        }
        int flags = b.getInt(at);
        int vniWord = b.getInt(at + 4);
        if ((flags & I_FLAG) == 0) {
            return NO_I_FLAG;
        }
        if (flags != FLAGS_WORD || (vniWord & 0xff) != 0) {
            return RESERVED_BITS;
        }
        return vniWord >>> 8;
    }

    /** Writes a header for {@code vni} at {@code at}. */
    public static void write(ByteBuffer b, int at, int vni) {
        b.putInt(at, FLAGS_WORD);
        b.putInt(at + 4, vni << 8);
    }
}
