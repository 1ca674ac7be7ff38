package io.vswitch.capture;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** The classic libpcap file format (little-endian, microsecond timestamps, Ethernet link type). */
public final class Pcap {
    public static final int GLOBAL_HEADER = 24;
    public static final int RECORD_HEADER = 16;
    public static final int SNAPLEN = 262144;
    private static final int MAGIC = 0xa1b2c3d4;
    private static final int LINKTYPE_ETHERNET = 1;

    private Pcap() {
    }

    public static byte[] globalHeader() {
        ByteBuffer b = ByteBuffer.allocate(GLOBAL_HEADER).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(MAGIC).putShort((short) 2).putShort((short) 4).putInt(0).putInt(0).putInt(SNAPLEN).putInt(LINKTYPE_ETHERNET);
        return b.array();
    }

    /** One record: header and frame bytes. */
    public static byte[] record(long epochMicros, byte[] frame) {
        int captured = Math.min(frame.length, SNAPLEN);
        ByteBuffer b = ByteBuffer.allocate(RECORD_HEADER + captured).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt((int) (epochMicros / 1_000_000)).putInt((int) (epochMicros % 1_000_000)).putInt(captured).putInt(frame.length);
        b.put(frame, 0, captured);
        return b.array();
    }
}
