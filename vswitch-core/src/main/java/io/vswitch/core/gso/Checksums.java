package io.vswitch.core.gso;

import java.nio.ByteBuffer;

/** Internet checksums (RFC 1071) over direct buffers, eight bytes at a time. */
public final class Checksums {
    private Checksums() {
    }

    /** Adds the 16-bit words of {@code [from, from+length)} to {@code sum}, unfolded. */
    public static long add(ByteBuffer b, int from, int length, long sum) {
        int i = from;
        int end = from + length;
        while (i + 8 <= end) {
            long v = b.getLong(i);
            sum += (v >>> 32) + (v & 0xffffffffL);
            i += 8;
        }
        if (i + 4 <= end) {
            sum += b.getInt(i) & 0xffffffffL;
            i += 4;
        }
        if (i + 2 <= end) {
            sum += b.getShort(i) & 0xffff;
            i += 2;
        }
        if (i < end) {
            sum += (b.get(i) & 0xff) << 8;
        }
        return sum;
    }

    /** Folds a sum to 16 bits and complements it: the value to store in a checksum field. */
    public static int finish(long sum) {
        sum = (sum & 0xffffffffL) + (sum >>> 32);
        sum = (sum & 0xffffffffL) + (sum >>> 32);
        int s = (int) ((sum & 0xffff) + ((sum >>> 16) & 0xffff) + (sum >>> 32));
        s = (s & 0xffff) + (s >>> 16);
        s = (s & 0xffff) + (s >>> 16);
        return ~s & 0xffff;
    }

    /** IPv4 header checksum for the header at {@code at} (its checksum field is taken as zero). */
    public static int ipv4Header(ByteBuffer b, int at, int headerLength) {
        long sum = add(b, at, headerLength, 0) - (b.getShort(at + 10) & 0xffff);
        return finish(sum);
    }

    /** Pseudo-header sum for TCP/UDP over IPv4. */
    public static long pseudoIpv4(ByteBuffer b, int ipAt, int proto, int l4Length) {
        return add(b, ipAt + 12, 8, 0) + proto + l4Length;
    }

    /** Pseudo-header sum for TCP/UDP over IPv6. */
    public static long pseudoIpv6(ByteBuffer b, int ipAt, int proto, int l4Length) {
        return add(b, ipAt + 8, 32, 0) + proto + l4Length;
    }
}
