package io.vswitch.vxlan;

import com.google.common.net.InetAddresses;
import java.net.Inet6Address;
import java.net.InetAddress;

/**
 * An IPv4 or IPv6 address of the underlay (a local address or a remote VTEP), parsed strictly: Guava's
 * {@link InetAddresses#forString} accepts only literal addresses and never asks DNS, so a typo cannot
 * turn into a lookup, a delay or a surprise address. Immutable.
 */
public final class UnderlayAddress {
    private final byte[] bytes;

    private UnderlayAddress(byte[] bytes) {
        this.bytes = bytes;
    }

    /**
     * Parses a literal IPv4 or IPv6 unicast address.
     *
     * @param what what the address is for, to name it in the error (e.g. "--remote")
     * @throws IllegalArgumentException naming the problem and what to write instead
     */
    public static UnderlayAddress parse(String text, String what) {
        InetAddress address;
        try {
            address = InetAddresses.forString(text.trim());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(what + " '" + text + "' is not an IP address: write a literal IPv4 or IPv6"
                    + " address such as 198.18.0.1 or 2001:db8::1 (host names are not looked up)");
        }
        if (address.isMulticastAddress()) {
            throw new IllegalArgumentException(what + " " + text + " is a multicast group: multicast underlays are not"
                    + " supported, list every remote VTEP with --remote instead");
        }
        if (address.isAnyLocalAddress()) {
            throw new IllegalArgumentException(what + " " + text + " is the unspecified address: give the VTEP's own address");
        }
        if (address instanceof Inet6Address v6 && v6.getScopeId() != 0) {
            throw new IllegalArgumentException(what + " " + text + " has a scope: link-local underlays are not supported");
        }
        return new UnderlayAddress(address.getAddress());
    }

    /** From the bytes of an IPv4 (4) or IPv6 (16) address in network order. */
    static UnderlayAddress of(byte[] bytes) {
        if (bytes.length != 4 && bytes.length != 16) {
            throw new IllegalArgumentException("an address has 4 or 16 bytes, not " + bytes.length);
        }
        return new UnderlayAddress(bytes.clone());
    }

    public boolean isIpv6() {
        return bytes.length == 16;
    }

    /** The address in network order (a copy). */
    public byte[] bytes() {
        return bytes.clone();
    }

    /** Outer IP header length: 20 for IPv4, 40 for IPv6. */
    public int ipHeaderLength() {
        return isIpv6() ? 40 : 20;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof UnderlayAddress other && java.util.Arrays.equals(bytes, other.bytes);
    }

    @Override
    public int hashCode() {
        return java.util.Arrays.hashCode(bytes);
    }

    /** The canonical text (RFC 5952 for IPv6). */
    @Override
    public String toString() {
        try {
            return InetAddresses.toAddrString(InetAddress.getByAddress(bytes));
        } catch (java.net.UnknownHostException e) {
            throw new IllegalStateException(e); // cannot happen: 4 or 16 bytes
        }
    }
}
