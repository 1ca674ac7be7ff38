package io.vswitch.capture;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.util.Arrays;

/** One-line, tcpdump-like descriptions of captured frames (cold path: the capture command). */
public final class FrameSummary {
    private FrameSummary() {
    }

    public static String describe(byte[] frame) {
        if (frame.length < 14) {
            return "runt, " + frame.length + " bytes";
        }
        ByteBuffer b = ByteBuffer.wrap(frame);
        StringBuilder s = new StringBuilder();
        s.append(mac(frame, 6)).append(" > ").append(mac(frame, 0));
        int off = 12;
        int type = b.getShort(off) & 0xffff;
        while ((type == 0x8100 || type == 0x88a8) && off + 6 <= frame.length) {
            s.append(" vlan ").append(b.getShort(off + 2) & 0x0fff);
            off += 4;
            type = b.getShort(off) & 0xffff;
        }
        int l3 = off + 2;
        try {
            if (type == 0x0800 && l3 + 20 <= frame.length) {
                int ihl = (frame[l3] & 0x0f) * 4;
                int proto = frame[l3 + 9] & 0xff;
                s.append(" IPv4 ").append(ip(frame, l3 + 12, 4)).append(" > ").append(ip(frame, l3 + 16, 4));
                s.append(' ').append(protocol(frame, proto, l3 + ihl));
            } else if (type == 0x86dd && l3 + 40 <= frame.length) {
                s.append(" IPv6 ").append(ip(frame, l3 + 8, 16)).append(" > ").append(ip(frame, l3 + 24, 16));
                s.append(' ').append(protocol(frame, frame[l3 + 6] & 0xff, l3 + 40));
            } else if (type == 0x0806 && l3 + 28 <= frame.length) {
                int op = b.getShort(l3 + 6) & 0xffff;
                s.append(op == 1 ? " ARP who-has " + ip(frame, l3 + 24, 4) + " tell " + ip(frame, l3 + 14, 4)
                        : " ARP reply " + ip(frame, l3 + 14, 4) + " is-at " + mac(frame, l3 + 8));
            } else {
                s.append(String.format(" ethertype 0x%04x", type));
            }
        } catch (UnknownHostException e) {
            s.append(" (unreadable address)");
        }
        return s.append(", length ").append(frame.length).toString();
    }

    private static String protocol(byte[] frame, int proto, int l4) {
        ByteBuffer b = ByteBuffer.wrap(frame);
        switch (proto) {
            case 1:
                return l4 < frame.length ? "ICMP " + (frame[l4] == 8 ? "echo request" : frame[l4] == 0 ? "echo reply" : "type " + frame[l4]) : "ICMP";
            case 58:
                return l4 < frame.length ? "ICMPv6 type " + (frame[l4] & 0xff) : "ICMPv6";
            case 6:
                return l4 + 4 <= frame.length ? "TCP " + (b.getShort(l4) & 0xffff) + " > " + (b.getShort(l4 + 2) & 0xffff) : "TCP";
            case 17:
                return l4 + 4 <= frame.length ? "UDP " + (b.getShort(l4) & 0xffff) + " > " + (b.getShort(l4 + 2) & 0xffff) : "UDP";
            default:
                return "proto " + proto;
        }
    }

    private static String ip(byte[] frame, int at, int len) throws UnknownHostException {
        return InetAddress.getByAddress(Arrays.copyOfRange(frame, at, at + len)).getHostAddress();
    }

    private static String mac(byte[] frame, int at) {
        return String.format("%02x:%02x:%02x:%02x:%02x:%02x", frame[at], frame[at + 1], frame[at + 2],
                frame[at + 3], frame[at + 4], frame[at + 5]);
    }
}
