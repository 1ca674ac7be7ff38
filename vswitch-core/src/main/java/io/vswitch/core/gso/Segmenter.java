package io.vswitch.core.gso;

import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.alloc.NativeAddress;
import io.vswitch.core.frame.DropReason;
import io.vswitch.core.frame.EtherTypes;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.VnetHeader;
import io.vswitch.core.port.BatchSink;
import io.vswitch.core.port.FrameSink;
import io.vswitch.core.port.QueueCounters;
import java.nio.ByteBuffer;

/**
 * Software GSO and checksum completion (the kernel's {@code skb_segment} and
 * {@code skb_checksum_help}) for ports that cannot take offloads, such as a VM on a unix socket.
 *
 * <p>A TCP super-frame (GSO_TCPV4/TCPV6) is cut into segments of {@code gsoSize} payload bytes: each
 * gets a copy of the headers with the IP length (and IPv4 ID and header checksum), the TCP sequence
 * number and flags (FIN and PSH only on the last segment, CWR only on the first) fixed, and a full TCP
 * checksum. A UDP super-frame (GSO_UDP_L4) is cut into datagrams of {@code gsoSize} payload bytes.
 * A frame with only NEEDS_CSUM gets its checksum written in place.
 *
 * <p>One segmenter per datapath thread: it owns a small scratch allocator. For a plain
 * {@link FrameSink} each segment is written, transmitted and released before the next one; a
 * {@link BatchSink} (a tunnel sending with {@code sendmmsg}) gets up to {@value #BATCH} segments in
 * one call, written into the scratch fragments side by side. Nothing is allocated per frame, and
 * segments are released even when the sink throws, so a failing port cannot pin the scratch memory.
 */
public final class Segmenter {
    private static final int TCP_FIN = 0x01;
    private static final int TCP_PSH = 0x08;
    private static final int TCP_CWR = 0x80;

    /** Segments handed to a {@link BatchSink} at once: a 64 KiB super-frame at a 1400-byte MSS is 47. */
    static final int BATCH = 64;
    /**
     * Longest segment carved from the scratch chunks rather than put in the large buffer: a quarter
     * chunk, so jumbo segments (a tunnel over an MTU-9000 underlay cuts 8964-byte ones, seven to a
     * chunk) go to a {@link BatchSink} together too, not one per call.
     */
    private static final int MAX_CARVED_SEGMENT = FragAllocator.DEFAULT_CHUNK_SIZE / 4 - FragAllocator.HEADROOM;

    private final FragAllocator scratch;
    private final Frame[] batch = new Frame[BATCH];
    private final int[] results = new int[BATCH];

    public Segmenter(NativeAddress addresses) {
        // Two chunks hold a whole batch of 1.5 KB segments (32 fragments each), or 14 jumbo ones (8 make a 64 KiB
        // super-frame); only segments longer than MAX_CARVED_SEGMENT take the large buffer, one at a time.
        this.scratch = new FragAllocator(FragAllocator.DEFAULT_CHUNK_SIZE, 2, 1, addresses);
        for (int i = 0; i < BATCH; i++) {
            batch[i] = new Frame();
        }
    }

    /**
     * Writes {@code frame}'s checksum in place if it still needs one (NEEDS_CSUM): the field at
     * csum_start + csum_offset holds the pseudo-header sum, as the kernel leaves it.
     *
     * @return false if the offsets point outside the frame: past its end, or before its start (a
     *     csum_start inside a priority tag that was popped since)
     */
    public static boolean completeChecksum(Frame frame) {
        int from = frame.csumStart();
        int field = from + frame.csumOffset();
        if (from < 0 || from >= frame.length() || field + 2 > frame.length()) {
            return false;
        }
        ByteBuffer b = frame.buffer();
        int base = frame.start();
        int sum = Checksums.finish(Checksums.add(b, base + from, frame.length() - from, 0));
        b.putShort(base + field, (short) sum);
        frame.setOffload(VnetHeader.FLAG_DATA_VALID, VnetHeader.GSO_NONE, 0, 0, 0, 0);
        return true;
    }

    /**
     * Sends {@code frame} to {@code sink} in a form a port without offloads accepts: segmented if it
     * is a super-frame, checksummed if it needs it. Counts what was sent or dropped on {@code counters}.
     */
    public void send(Frame frame, FrameSink sink, QueueCounters counters) {
        send(frame, sink, counters, FragAllocator.MAX_LARGE_FRAME, DropReason.OVERSIZE);
    }

    /**
     * Like {@link #send(Frame, FrameSink, QueueCounters)} for a port that takes frames of at most
     * {@code maxFrame} bytes (a tunnel, whose limit is the underlay MTU minus its outer headers): TCP
     * segments are cut small enough to fit (a smaller segment than the MSS is always valid TCP); a frame
     * or UDP datagram that cannot fit is dropped as {@code tooBig}, since cutting a UDP super-frame
     * differently would change its datagrams.
     */
    public void send(Frame frame, FrameSink sink, QueueCounters counters, int maxFrame, DropReason tooBig) {
        if (!frame.isGso()) {
            if (frame.length() > maxFrame) {
                counters.dropped(tooBig.ordinal());
                return;
            }
            if (frame.needsChecksum() && !completeChecksum(frame)) {
                counters.dropped(DropReason.BAD_VNET_HEADER.ordinal());
                return;
            }
            transmit(frame, sink, counters);
            return;
        }
        int type = frame.gsoType() & ~VnetHeader.GSO_ECN;
        int l3 = frame.l3Offset();
        int l4 = frame.l4Offset();
        int mss = frame.gsoSize();
        boolean tcp = (type == VnetHeader.GSO_TCPV4 || type == VnetHeader.GSO_TCPV6) && frame.ipProto() == EtherTypes.PROTO_TCP;
        boolean udp = type == VnetHeader.GSO_UDP_L4 && frame.ipProto() == EtherTypes.PROTO_UDP;
        if (l3 == Frame.NONE || l4 == Frame.NONE || mss == 0 || !(tcp || udp)) {
            counters.dropped(DropReason.BAD_VNET_HEADER.ordinal());
            return;
        }
        int headers = tcp ? l4 + (frame.u8(l4 + 12) >>> 4) * 4 : l4 + 8;
        if (headers + mss > maxFrame) {
            if (udp || headers >= maxFrame) {
                counters.dropped(tooBig.ordinal());
                return;
            }
            mss = maxFrame - headers;
        }
        boolean v4 = frame.etherType() == EtherTypes.IPV4;
        int payload = frame.length() - headers;
        if (payload <= 0 || headers + mss > FragAllocator.MAX_LARGE_FRAME) {
            counters.dropped(DropReason.BAD_VNET_HEADER.ordinal());
            return;
        }
        counters.segmented();
        int limit = sink instanceof BatchSink ? Math.min(BATCH, ((BatchSink) sink).batchCapacity()) : 1;
        ByteBuffer src = frame.buffer();
        int srcBase = frame.start();
        int ipId = v4 ? frame.u16(l3 + 4) : 0;
        long seq = tcp ? frame.i32(l4 + 4) & 0xffffffffL : 0;
        int flags = tcp ? frame.u8(l4 + 13) : 0;
        int pending = 0;
        try {
            int index = 0;
            for (int offset = 0; offset < payload; offset += mss, index++) {
                int chunk = Math.min(mss, payload - offset);
                boolean last = offset + chunk >= payload;
                if (!allocate(batch[pending], headers + chunk)) {
                    if (pending == 0) {
                        counters.dropped(DropReason.NO_BUFFER.ordinal());
                        return;
                    }
                    int n = pending;
                    pending = 0;
                    flush(sink, n, counters);
                    if (!allocate(batch[0], headers + chunk)) {
                        counters.dropped(DropReason.NO_BUFFER.ordinal());
                        return;
                    }
                }
                Frame segment = batch[pending++];
                segment.setFlowHash(frame.flowHash());
                ByteBuffer dst = segment.buffer();
                int base = segment.start();
                dst.put(base, src, srcBase, headers);
                dst.put(base + headers, src, srcBase + headers + offset, chunk);
                int l4Length = headers - l4 + chunk;
                if (v4) {
                    dst.putShort(base + l3 + 2, (short) (l4 - l3 + l4Length));
                    dst.putShort(base + l3 + 4, (short) (ipId + (tcp ? index : 0)));
                    dst.putShort(base + l3 + 10, (short) Checksums.ipv4Header(dst, base + l3, l4 - l3));
                } else {
                    dst.putShort(base + l3 + 4, (short) (l4 - l3 - 40 + l4Length));
                }
                int checkField;
                if (tcp) {
                    dst.putInt(base + l4 + 4, (int) (seq + offset));
                    int segFlags = flags;
                    if (!last) {
                        segFlags &= ~(TCP_FIN | TCP_PSH);
                    }
                    if (index > 0) {
                        segFlags &= ~TCP_CWR;
                    }
                    dst.put(base + l4 + 13, (byte) segFlags);
                    checkField = base + l4 + 16;
                } else {
                    dst.putShort(base + l4 + 4, (short) l4Length);
                    checkField = base + l4 + 6;
                }
                int proto = tcp ? EtherTypes.PROTO_TCP : EtherTypes.PROTO_UDP;
                dst.putShort(checkField, (short) 0);
                long sum = v4 ? Checksums.pseudoIpv4(dst, base + l3, proto, l4Length)
                        : Checksums.pseudoIpv6(dst, base + l3, proto, l4Length);
                int check = Checksums.finish(Checksums.add(dst, base + l4, l4Length, sum));
                if (udp && check == 0) {
                    check = 0xffff; // RFC 768: zero means "no checksum"
                }
                dst.putShort(checkField, (short) check);
                if (pending == limit || last) {
                    int n = pending;
                    pending = 0;
                    flush(sink, n, counters);
                }
            }
        } finally {
            for (int i = 0; i < pending; i++) {
                batch[i].release();
            }
        }
    }

    /** Attaches {@code segment} to scratch memory for {@code length} bytes: a chunk fragment up to {@link #MAX_CARVED_SEGMENT}. */
    private boolean allocate(Frame segment, int length) {
        if (length > MAX_CARVED_SEGMENT) {
            return scratch.allocate(segment, length);
        }
        if (!scratch.reserve(segment, length)) {
            return false;
        }
        segment.setLength(length);
        return true;
    }

    /**
     * Sends the first {@code count} segments of {@link #batch} (to a {@link BatchSink} in one call) and
     * releases them, also when the sink throws.
     */
    private void flush(FrameSink sink, int count, QueueCounters counters) {
        try {
            if (sink instanceof BatchSink) {
                ((BatchSink) sink).transmit(batch, count, results);
                for (int i = 0; i < count; i++) {
                    if (results[i] == FrameSink.SENT) {
                        counters.transmitted(batch[i].length());
                    } else {
                        counters.dropped(results[i]);
                    }
                }
            } else {
                transmit(batch[0], sink, counters);
            }
        } finally {
            for (int i = 0; i < count; i++) {
                batch[i].release();
            }
        }
    }

    private static void transmit(Frame frame, FrameSink sink, QueueCounters counters) {
        int rc = sink.transmit(frame);
        if (rc == FrameSink.SENT) {
            counters.transmitted(frame.length());
        } else {
            counters.dropped(rc);
        }
    }
}
