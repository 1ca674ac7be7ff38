package io.vswitch.core.testing;

import java.nio.ByteBuffer;

/** Builders of test frames with real headers and checksums. */
public final class Frames {
    private Frames() {
    }

    public static long mac(String text) {
        return Long.parseLong(text.replace(":", ""), 16);
    }

    /** A Broadcast ARP request from {@code src} (MAC as 48-bit long), untagged. */
    public static byte[] arp(long src) {
        ByteBuffer b = ByteBuffer.allocate(42);
        putMac(b, 0xffff_ffff_ffffL);
        putMac(b, src);
        b.putShort((short) 0x0806);
        b.putShort((short) 1).putShort((short) 0x0800).put((byte) 6).put((byte) 4).putShort((short) 1);
        putMac(b, src);
        b.putInt(0xc6120001);
        putMac(b, 0);
        b.putInt(0xc6120002);
        return b.array();
    }

    /** An untagged Ethernet frame carrying IPv4/UDP with the given addresses and payload size. */
    public static byte[] udp4(long dst, long src, int srcIp, int dstIp, int srcPort, int dstPort, int payload) {
        int ipLen = 20 + 8 + payload;
        ByteBuffer b = ByteBuffer.allocate(14 + ipLen);
        putMac(b, dst);
        putMac(b, src);
        b.putShort((short) 0x0800);
        b.put((byte) 0x45).put((byte) 0).putShort((short) ipLen).putShort((short) 1).putShort((short) 0x4000);
        b.put((byte) 64).put((byte) 17).putShort((short) 0).putInt(srcIp).putInt(dstIp);
        b.putShort((short) srcPort).putShort((short) dstPort).putShort((short) (8 + payload)).putShort((short) 0);
        for (int i = 0; i < payload; i++) {
            b.put((byte) i);
        }
        return b.array();
    }

    /** An untagged Ethernet frame carrying IPv4/TCP with {@code payload} bytes (pattern i*7). */
    public static byte[] tcp4(long dst, long src, int srcIp, int dstIp, int srcPort, int dstPort, int seq, int payload) {
        int ipLen = 20 + 20 + payload;
        ByteBuffer b = ByteBuffer.allocate(14 + ipLen);
        putMac(b, dst);
        putMac(b, src);
        b.putShort((short) 0x0800);
        b.put((byte) 0x45).put((byte) 0).putShort((short) ipLen).putShort((short) 100).putShort((short) 0x4000);
        b.put((byte) 64).put((byte) 6).putShort((short) 0).putInt(srcIp).putInt(dstIp);
        b.putShort((short) srcPort).putShort((short) dstPort).putInt(seq).putInt(0);
        b.put((byte) 0x50).put((byte) 0x18).putShort((short) 65535).putShort((short) 0).putShort((short) 0);
        for (int i = 0; i < payload; i++) {
            b.put((byte) (i * 7));
        }
        return b.array();
    }

    /** An untagged Ethernet frame carrying IPv6/TCP with {@code payload} bytes (pattern i*7). */
    public static byte[] tcp6(long dst, long src, int srcPort, int dstPort, int seq, int payload) {
        ByteBuffer b = ByteBuffer.allocate(14 + 40 + 20 + payload);
        putMac(b, dst);
        putMac(b, src);
        b.putShort((short) 0x86dd);
        b.putInt(0x60000000).putShort((short) (20 + payload)).put((byte) 6).put((byte) 64);
        b.putLong(0x2001_0db8_0000_0000L).putLong(1);
        b.putLong(0x2001_0db8_0000_0000L).putLong(2);
        b.putShort((short) srcPort).putShort((short) dstPort).putInt(seq).putInt(0);
        b.put((byte) 0x50).put((byte) 0x19).putShort((short) 65535).putShort((short) 0).putShort((short) 0);
        for (int i = 0; i < payload; i++) {
            b.put((byte) (i * 7));
        }
        return b.array();
    }

    /** Inserts an 802.1Q tag with {@code vid} after the MAC addresses. */
    public static byte[] tagged(byte[] frame, int tpid, int vid) {
        byte[] out = new byte[frame.length + 4];
        System.arraycopy(frame, 0, out, 0, 12);
        out[12] = (byte) (tpid >>> 8);
        out[13] = (byte) tpid;
        out[14] = (byte) (vid >>> 8);
        out[15] = (byte) vid;
        System.arraycopy(frame, 12, out, 16, frame.length - 12);
        return out;
    }

    private static void putMac(ByteBuffer b, long mac) {
        b.putShort((short) (mac >>> 32)).putInt((int) mac);
    }
}
