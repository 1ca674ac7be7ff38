package io.vswitch.vxlan;

import com.kenai.jffi.MemoryIO;
import io.vswitch.linux.DirectAddress;
import io.vswitch.linux.LibC;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * The remote VTEPs of one VXLAN port: the ones configured with {@code --remote}, then (with
 * {@code --remote any}) the ones learned from received packets. Each has a fixed index for as long as the
 * port lives (the port's MAC table maps a MAC to that index) and a ready-made {@code sockaddr} for
 * {@code sendto}, so sending to a VTEP costs no conversion and no allocation.
 *
 * <p><b>Threads.</b> Any datapath thread reads ({@link #count}, {@link #sockaddr}, {@link #find}) without
 * a lock; entries are only appended (by the socket's receiving thread when it learns a VTEP, or by the
 * control plane for a static entry), under this object's lock, and published by the volatile store of
 * {@link #count} after the entry is written, so a reader that sees an index sees its entry whole. The
 * sockaddrs live in a direct buffer that the garbage collector frees only once no thread can reach this
 * table any more: a thread still transmitting while the port is removed reads valid memory.
 */
final class RemoteTable {
    /** VTEPs per port at most (configured plus learned). */
    static final int MAX_REMOTES = 256;
    /** Bytes of one slot: a sockaddr_in6 (28) rounded up; a sockaddr_in (16) uses the start. */
    private static final int SLOT = 32;
    private static final MemoryIO IO = MemoryIO.getInstance();

    private final boolean ipv6;
    private final boolean learnsAny;
    private final int dstPort;
    private final int configured;
    private final ByteBuffer sockaddrs = ByteBuffer.allocateDirect(MAX_REMOTES * SLOT).order(ByteOrder.nativeOrder());
    private final long base = DirectAddress.INSTANCE.of(sockaddrs);
    private final long[] high = new long[MAX_REMOTES];
    private final long[] low = new long[MAX_REMOTES];
    private final UnderlayAddress[] addresses = new UnderlayAddress[MAX_REMOTES];
    private volatile int count;

    RemoteTable(boolean ipv6, int dstPort, List<UnderlayAddress> remotes, boolean learnsAny) {
        if (remotes.size() > MAX_REMOTES) {
            throw new IllegalArgumentException("at most " + MAX_REMOTES + " remotes per port, not " + remotes.size());
        }
        this.ipv6 = ipv6;
        this.dstPort = dstPort;
        this.learnsAny = learnsAny;
        for (UnderlayAddress r : remotes) {
            if (r.isIpv6() != ipv6) {
                throw new IllegalArgumentException("remote " + r + " is " + (r.isIpv6() ? "IPv6" : "IPv4")
                        + " but the local address is not: a port's underlay is one family");
            }
            if (indexOf(r) >= 0) {
                throw new IllegalArgumentException("remote " + r + " is listed twice");
            }
            append(r);
        }
        this.configured = count;
    }

    /** Remotes now (configured, then learned); entries below it are complete. */
    int count() {
        return count;
    }

    /** Remotes given with {@code --remote}: flooding goes to these (and to learned ones). */
    int configured() {
        return configured;
    }

    boolean learnsAny() {
        return learnsAny;
    }

    /** Native address of remote {@code i}'s sockaddr: its address and the VXLAN UDP port. */
    long sockaddr(int i) {
        return base + (long) i * SLOT;
    }

    int sockaddrLength() {
        return ipv6 ? 28 : 16;
    }

    UnderlayAddress address(int i) {
        return addresses[i];
    }

    /**
     * The index of the VTEP whose address is in the received {@code sockaddr} at native address
     * {@code from}, or -1. Lock-free and allocation-free: compares two longs per entry.
     */
    int find(long from) {
        long hi = high(from);
        long lo = low(from);
        int n = count;
        for (int i = 0; i < n; i++) {
            if (low[i] == lo && high[i] == hi) {
                return i;
            }
        }
        return -1;
    }

    /**
     * Adds the VTEP of the received {@code sockaddr} at {@code from} (a port with {@code --remote any});
     * the receiving thread, on the first packet from a new VTEP.
     *
     * @return its index, or -1 when the table is full
     */
    int learn(long from) {
        synchronized (this) {
            int known = find(from);
            if (known >= 0 || count == MAX_REMOTES) {
                return known;
            }
            byte[] bytes = new byte[ipv6 ? 16 : 4];
            for (int i = 0; i < bytes.length; i++) {
                bytes[i] = IO.getByte(from + (ipv6 ? 8 : 4) + i);
            }
            return append(UnderlayAddress.of(bytes));
        }
    }

    /** The index of {@code address}, adding it if the port learns any VTEP; -1 if it may not be used (cold path). */
    int indexFor(UnderlayAddress address) {
        synchronized (this) {
            int known = indexOf(address);
            if (known >= 0 || !learnsAny || address.isIpv6() != ipv6 || count == MAX_REMOTES) {
                return known;
            }
            return append(address);
        }
    }

    int indexOf(UnderlayAddress address) {
        for (int i = 0; i < count; i++) {
            if (addresses[i].equals(address)) {
                return i;
            }
        }
        return -1;
    }

    /** Every remote's address (cold path: show). */
    List<String> describe() {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            out.add(addresses[i].toString());
        }
        return out;
    }

    private int append(UnderlayAddress address) {
        int i = count;
        int at = i * SLOT;
        byte[] bytes = address.bytes();
        sockaddrs.putShort(at, (short) (ipv6 ? LibC.AF_INET6 : LibC.AF_INET));
        sockaddrs.put(at + 2, (byte) (dstPort >>> 8)); // sin_port / sin6_port, network order
        sockaddrs.put(at + 3, (byte) dstPort);
        sockaddrs.put(at + (ipv6 ? 8 : 4), bytes);
        high[i] = high(sockaddr(i));
        low[i] = low(sockaddr(i));
        addresses[i] = address;
        count = i + 1;
        return i;
    }

    /** The address of a sockaddr_in/in6 at native address {@code at} as two longs (native order; compared, never shown). */
    private long high(long at) {
        return ipv6 ? IO.getLong(at + 8) : 0;
    }

    private long low(long at) {
        return ipv6 ? IO.getLong(at + 16) : IO.getInt(at + 4) & 0xffff_ffffL;
    }
}
