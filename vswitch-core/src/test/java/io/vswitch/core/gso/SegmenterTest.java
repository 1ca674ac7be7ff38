package io.vswitch.core.gso;

import static io.vswitch.core.testing.Frames.mac;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.alloc.NativeAddress;
import io.vswitch.core.frame.DropReason;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameParser;
import io.vswitch.core.frame.VnetHeader;
import io.vswitch.core.port.BatchSink;
import io.vswitch.core.port.FrameSink;
import io.vswitch.core.port.QueueCounters;
import io.vswitch.core.testing.Frames;
import io.vswitch.core.testing.MemoryPort;
import java.nio.ByteBuffer;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Segments are checked against a reference written here from RFC 1071 and RFC 793/768/8200 (a
 * byte-at-a-time ones'-complement sum over a pseudo-header assembled from the segment's bytes), not
 * with the {@link Checksums} code that wrote them.
 */
class SegmenterTest {
    private static final long A = mac("02:00:00:00:00:0a");
    private static final long B = mac("02:00:00:00:00:0b");
    private final FragAllocator allocator = new FragAllocator(NativeAddress.NONE);
    private final Segmenter segmenter = new Segmenter(NativeAddress.NONE);
    private final MemoryPort out = new MemoryPort("out", 1);
    private final QueueCounters counters = new QueueCounters();
    private final Frame frame = new Frame();

    @AfterEach
    void releaseFrame() {
        frame.release();
    }

    private Frame load(byte[] bytes) {
        assertTrue(allocator.allocate(frame, bytes.length));
        frame.write(bytes, 0, bytes.length);
        assertEquals(FrameParser.OK, FrameParser.parse(frame));
        return frame;
    }

    // ---- the independent reference ---------------------------------------------------------------

    /** RFC 1071: ones'-complement of the ones'-complement sum of 16-bit big-endian words, odd byte padded. */
    static int rfc1071(byte[] data, int from, int length, byte[] pseudo) {
        long sum = 0;
        for (int i = 0; i < pseudo.length; i += 2) {
            sum += ((pseudo[i] & 0xff) << 8) | (pseudo[i + 1] & 0xff);
        }
        for (int i = 0; i < length; i += 2) {
            int hi = data[from + i] & 0xff;
            int lo = i + 1 < length ? data[from + i + 1] & 0xff : 0;
            sum += (hi << 8) | lo;
        }
        while ((sum >>> 16) != 0) {
            sum = (sum & 0xffff) + (sum >>> 16);
        }
        return (int) ~sum & 0xffff;
    }

    /** The checksum the L4 header at {@code l4} must carry: computed with its field taken as zero. */
    private static int expectedL4Checksum(byte[] seg, boolean v4, int proto, int checkOffset) {
        int l3 = 14;
        int l4 = v4 ? l3 + 20 : l3 + 40;
        int l4Length = seg.length - l4;
        byte[] copy = seg.clone();
        copy[l4 + checkOffset] = 0;
        copy[l4 + checkOffset + 1] = 0;
        ByteBuffer pseudo;
        if (v4) {
            pseudo = ByteBuffer.allocate(12);
            pseudo.put(seg, l3 + 12, 8).put((byte) 0).put((byte) proto).putShort((short) l4Length);
        } else {
            pseudo = ByteBuffer.allocate(40);
            pseudo.put(seg, l3 + 8, 32).putInt(l4Length).put(new byte[3]).put((byte) proto);
        }
        int sum = rfc1071(copy, l4, l4Length, pseudo.array());
        return proto == 17 && sum == 0 ? 0xffff : sum;
    }

    private static int u16(byte[] b, int at) {
        return ((b[at] & 0xff) << 8) | (b[at + 1] & 0xff);
    }

    @Test
    void segmentsAreCutToFitAPortWithASmallerFrameLimit() {
        int payload = 10_000;
        Frame f = load(Frames.tcp4(B, A, 0xc6120001, 0xc6120002, 40000, 5201, 1_000_000, payload));
        f.setOffload(VnetHeader.FLAG_NEEDS_CSUM, VnetHeader.GSO_TCPV4, 54, 1448, 34, 16);
        f.setFlowHash(0x1234_5678);
        List<Integer> hashes = new java.util.ArrayList<>();
        segmenter.send(f, frame -> {
            hashes.add(frame.flowHash());
            return out.queue(0).transmit(frame);
        }, counters, 1464, io.vswitch.core.frame.DropReason.TOO_BIG_FOR_TUNNEL);
        List<MemoryPort.Sent> segments = out.drain();
        assertEquals((payload + 1409) / 1410, segments.size(), "1464 - 54 header bytes = 1410 per segment");
        int total = 0;
        for (MemoryPort.Sent s : segments) {
            assertTrue(s.bytes().length <= 1464, "segment of " + s.bytes().length);
            assertEquals(expectedL4Checksum(s.bytes(), true, 6, 16), u16(s.bytes(), 50), "TCP checksum");
            total += s.bytes().length - 54;
        }
        assertEquals(payload, total);
        assertTrue(hashes.stream().allMatch(h -> h == 0x1234_5678), "segments keep the flow hash: " + hashes);
    }

    @Test
    void aFrameOrUdpDatagramThatCannotFitIsDroppedUnderTheGivenReason() {
        Frame plain = load(Frames.udp4(B, A, 0xc6120001, 0xc6120002, 1, 2, 1500));
        segmenter.send(plain, out.queue(0), counters, 1464, io.vswitch.core.frame.DropReason.TOO_BIG_FOR_TUNNEL);
        plain.release();
        Frame uso = load(Frames.udp4(B, A, 0xc6120001, 0xc6120002, 1, 2, 8000));
        uso.setOffload(VnetHeader.FLAG_NEEDS_CSUM, VnetHeader.GSO_UDP_L4, 42, 1472, 34, 6);
        segmenter.send(uso, out.queue(0), counters, 1464, io.vswitch.core.frame.DropReason.TOO_BIG_FOR_TUNNEL);
        assertEquals(0, out.drain().size());
        assertEquals(2, counters.drops(io.vswitch.core.frame.DropReason.TOO_BIG_FOR_TUNNEL));
    }

    /**
     * Found by HostileFrameFuzzTest: a header with the ECN bit and no GSO type passed as a plain frame,
     * and its gso_type reached guests and TAPs, whose virtio_net_hdr_to_skb refuses it.
     */
    @Test
    void anEcnBitWithoutAGsoTypeIsABadHeader() {
        Frame f = load(Frames.tcp4(B, A, 0xc6120001, 0xc6120002, 40000, 5201, 1, 100));
        f.setOffload(0, VnetHeader.GSO_ECN, 0, 0, 0, 0);
        segmenter.send(f, out.queue(0), counters);
        assertEquals(0, out.drain().size());
        assertEquals(1, counters.drops(DropReason.BAD_VNET_HEADER));
    }

    /**
     * Found by HostileFrameFuzzTest: csum_start 0 on a priority-tagged frame becomes -4 once the tag is
     * popped, and the checksum was summed from the headroom and written over the destination MAC.
     */
    @Test
    void aPartialChecksumStartingBeforeTheFrameIsABadHeader() {
        Frame f = load(Frames.tagged(Frames.udp4(B, A, 0xc6120001, 0xc6120002, 1, 2, 20), 0x8100, 0));
        f.setOffload(VnetHeader.FLAG_NEEDS_CSUM, VnetHeader.GSO_NONE, 0, 0, 0, 4);
        io.vswitch.core.vlan.VlanTags.pop(f);
        byte[] popped = f.toBytes();
        segmenter.send(f, out.queue(0), counters);
        assertEquals(0, out.drain().size());
        assertEquals(1, counters.drops(DropReason.BAD_VNET_HEADER));
        assertEquals(java.util.Arrays.toString(popped), java.util.Arrays.toString(f.toBytes()), "the frame is left as it was");
    }

    @Test
    void referenceMatchesRfc1071Example() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2, so the checksum is 220d.
        byte[] data = {0x00, 0x01, (byte) 0xf2, 0x03, (byte) 0xf4, (byte) 0xf5, (byte) 0xf6, (byte) 0xf7};
        assertEquals(0x220d, rfc1071(data, 0, data.length, new byte[0]));
    }

    // ---- segmentation ------------------------------------------------------------------------------

    @Test
    void tcp4SuperFrameBecomesValidSegments() {
        int payload = 10_001; // odd: the last segment ends on a padded byte
        byte[] superFrame = Frames.tcp4(B, A, 0xc6120001, 0xc6120002, 40000, 5201, 1_000_000, payload);
        superFrame[47] = (byte) 0x99; // CWR|ACK|PSH|FIN on the super-frame
        Frame f = load(superFrame);
        f.setOffload(VnetHeader.FLAG_NEEDS_CSUM, VnetHeader.GSO_TCPV4, 54, 1448, 34, 16);
        segmenter.send(f, out.queue(0), counters);
        List<MemoryPort.Sent> segments = out.drain();
        assertEquals((payload + 1447) / 1448, segments.size());
        int seen = 0;
        for (int i = 0; i < segments.size(); i++) {
            byte[] s = segments.get(i).bytes();
            int chunk = s.length - 54;
            boolean last = i + 1 == segments.size();
            assertEquals(last ? payload - 1448 * i : 1448, chunk);
            assertEquals(40 + chunk, u16(s, 16), "IPv4 total length");
            assertEquals(100 + i, u16(s, 18), "IP ID increments");
            byte[] ipHeader = s.clone();
            ipHeader[24] = 0;
            ipHeader[25] = 0;
            assertEquals(rfc1071(ipHeader, 14, 20, new byte[0]), u16(s, 24), "IPv4 header checksum of segment " + i);
            assertEquals(1_000_000 + seen, ByteBuffer.wrap(s).getInt(38), "sequence number");
            int expectedFlags = 0x10 | (i == 0 ? 0x80 : 0) | (last ? 0x09 : 0);
            assertEquals(expectedFlags, s[47] & 0xff, "CWR only first, PSH and FIN only last");
            assertEquals(expectedL4Checksum(s, true, 6, 16), u16(s, 50), "TCP checksum of segment " + i);
            for (int k = 0; k < chunk; k++) {
                assertEquals((byte) ((seen + k) * 7), s[54 + k]);
            }
            seen += chunk;
        }
        assertEquals(payload, seen);
        assertEquals(1, counters.txSegmented());
        assertEquals(segments.size(), counters.txPackets());
    }

    @Test
    void tcp6SuperFrameBecomesValidSegments() {
        Frame f = load(Frames.tcp6(B, A, 1, 2, 77, 5000));
        f.setOffload(VnetHeader.FLAG_NEEDS_CSUM, VnetHeader.GSO_TCPV6, 74, 1400, 54, 16);
        segmenter.send(f, out.queue(0), counters);
        List<MemoryPort.Sent> segments = out.drain();
        assertEquals(4, segments.size());
        for (MemoryPort.Sent sent : segments) {
            byte[] s = sent.bytes();
            assertEquals(s.length - 54, u16(s, 18), "IPv6 payload length");
            assertEquals(expectedL4Checksum(s, false, 6, 16), u16(s, 70), "TCP checksum");
        }
    }

    @Test
    void udpSuperFrameBecomesValidDatagrams() {
        int payload = 3001;
        Frame f = load(Frames.udp4(B, A, 0xc6120001, 0xc6120002, 5000, 6000, payload));
        f.setOffload(VnetHeader.FLAG_NEEDS_CSUM, VnetHeader.GSO_UDP_L4, 42, 1000, 34, 6);
        segmenter.send(f, out.queue(0), counters);
        List<MemoryPort.Sent> datagrams = out.drain();
        assertEquals(4, datagrams.size());
        for (int i = 0; i < datagrams.size(); i++) {
            byte[] d = datagrams.get(i).bytes();
            int chunk = i < 3 ? 1000 : 1;
            assertEquals(42 + chunk, d.length);
            assertEquals(8 + chunk, u16(d, 38), "UDP length");
            assertEquals(expectedL4Checksum(d, true, 17, 6), u16(d, 40), "UDP checksum of datagram " + i);
        }
    }

    @Test
    void checksumIsCompletedInPlace() {
        byte[] udp = Frames.udp4(B, A, 0xc6120001, 0xc6120002, 1, 2, 33);
        Frame f = load(udp);
        // What a sender with checksum offload leaves in the field: the folded pseudo-header sum.
        ByteBuffer pseudo = ByteBuffer.allocate(12);
        pseudo.put(udp, 26, 8).put((byte) 0).put((byte) 17).putShort((short) 41);
        f.putU16(40, ~rfc1071(new byte[0], 0, 0, pseudo.array()) & 0xffff);
        f.setOffload(VnetHeader.FLAG_NEEDS_CSUM, VnetHeader.GSO_NONE, 0, 0, 34, 6);
        segmenter.send(f, out.queue(0), counters);
        byte[] s = out.drain().get(0).bytes();
        assertEquals(expectedL4Checksum(s, true, 17, 6), u16(s, 40));
    }

    // ---- a sink that throws ------------------------------------------------------------------------

    @Test
    void aThrowingSinkDoesNotPinTheScratchMemory() {
        FrameSink failing = new FrameSink() {
            private int calls;

            @Override
            public int transmit(Frame segment) {
                if (++calls % 2 == 0) {
                    throw new IllegalStateException("port failed");
                }
                return FrameSink.SENT;
            }
        };
        byte[] superFrame = Frames.tcp4(B, A, 0xc6120001, 0xc6120002, 40000, 5201, 1, 20_000);
        for (int i = 0; i < 200; i++) {
            Frame f = load(superFrame);
            f.setOffload(VnetHeader.FLAG_NEEDS_CSUM, VnetHeader.GSO_TCPV4, 54, 1448, 34, 16);
            assertThrows(IllegalStateException.class, () -> segmenter.send(f, failing, counters));
            f.release();
        }
        Frame f = load(superFrame);
        f.setOffload(VnetHeader.FLAG_NEEDS_CSUM, VnetHeader.GSO_TCPV4, 54, 1448, 34, 16);
        segmenter.send(f, out.queue(0), counters);
        assertEquals(14, out.drain().size(), "every segment of the next super-frame goes out");
        assertEquals(0, counters.drops(DropReason.NO_BUFFER));
    }

    // ---- a sink that sends batches -----------------------------------------------------------------

    /** Records each batch call; refuses the frames at the indexes in {@code refuse} as TX_BUSY. */
    private static final class RecordingBatchSink implements BatchSink {
        final List<Integer> calls = new java.util.ArrayList<>();
        final List<byte[]> frames = new java.util.ArrayList<>();
        final int capacity;
        java.util.Set<Integer> refuse = java.util.Set.of();
        int singles;

        RecordingBatchSink(int capacity) {
            this.capacity = capacity;
        }

        @Override
        public int batchCapacity() {
            return capacity;
        }

        @Override
        public void transmit(Frame[] batch, int count, int[] results) {
            calls.add(count);
            for (int i = 0; i < count; i++) {
                assertTrue(batch[i].attached(), "segment " + i + " of the batch is live while the sink has it");
                int n = frames.size();
                frames.add(batch[i].toBytes());
                results[i] = refuse.contains(n) ? DropReason.TX_BUSY.ordinal() : FrameSink.SENT;
            }
        }

        @Override
        public int transmit(Frame frame) {
            singles++;
            frames.add(frame.toBytes());
            return FrameSink.SENT;
        }
    }

    @Test
    void aBatchSinkGetsTheSameSegmentsInOneCallPerBatch() {
        byte[] superFrame = Frames.tcp4(B, A, 0xc6120001, 0xc6120002, 40000, 5201, 1_000_000, 64_000);
        superFrame[47] = (byte) 0x99;
        Frame f = load(superFrame);
        f.setOffload(VnetHeader.FLAG_NEEDS_CSUM, VnetHeader.GSO_TCPV4, 54, 1398, 34, 16);
        segmenter.send(f, out.queue(0), counters);
        List<MemoryPort.Sent> one = out.drain();

        RecordingBatchSink sink = new RecordingBatchSink(64);
        QueueCounters batchCounters = new QueueCounters();
        segmenter.send(f, sink, batchCounters);
        assertEquals(List.of(46), sink.calls, "46 segments of 1398 bytes in one call");
        assertEquals(0, sink.singles);
        assertEquals(one.size(), sink.frames.size());
        for (int i = 0; i < one.size(); i++) {
            assertTrue(java.util.Arrays.equals(one.get(i).bytes(), sink.frames.get(i)), "segment " + i + " as a plain sink gets it");
        }
        assertEquals(46, batchCounters.txPackets());
        assertEquals(1, batchCounters.txSegmented());
    }

    @Test
    void batchesFollowTheSinksCapacityAndItsPerFrameResultsAreCounted() {
        Frame f = load(Frames.tcp4(B, A, 0xc6120001, 0xc6120002, 40000, 5201, 1, 20_000));
        f.setOffload(VnetHeader.FLAG_NEEDS_CSUM, VnetHeader.GSO_TCPV4, 54, 1448, 34, 16);
        RecordingBatchSink sink = new RecordingBatchSink(5);
        sink.refuse = java.util.Set.of(3, 9);
        segmenter.send(f, sink, counters);
        assertEquals(List.of(5, 5, 4), sink.calls);
        assertEquals(12, counters.txPackets());
        assertEquals(2, counters.drops(DropReason.TX_BUSY));
    }

    @Test
    void aThrowingBatchSinkDoesNotPinTheScratchMemory() {
        BatchSink failing = new BatchSink() {
            @Override
            public int batchCapacity() {
                return 64;
            }

            @Override
            public void transmit(Frame[] frames, int count, int[] results) {
                throw new IllegalStateException("port failed");
            }

            @Override
            public int transmit(Frame frame) {
                throw new IllegalStateException("port failed");
            }
        };
        byte[] superFrame = Frames.tcp4(B, A, 0xc6120001, 0xc6120002, 40000, 5201, 1, 60_000);
        for (int i = 0; i < 50; i++) {
            Frame f = load(superFrame);
            f.setOffload(VnetHeader.FLAG_NEEDS_CSUM, VnetHeader.GSO_TCPV4, 54, 1448, 34, 16);
            assertThrows(IllegalStateException.class, () -> segmenter.send(f, failing, counters));
            f.release();
        }
        Frame f = load(superFrame);
        f.setOffload(VnetHeader.FLAG_NEEDS_CSUM, VnetHeader.GSO_TCPV4, 54, 1448, 34, 16);
        RecordingBatchSink sink = new RecordingBatchSink(64);
        segmenter.send(f, sink, counters);
        assertEquals(List.of(42), sink.calls, "every segment of the next super-frame goes out in one batch");
        assertEquals(0, counters.drops(DropReason.NO_BUFFER));
    }

    @Test
    void jumboSegmentsOfASuperFrameGoToABatchSinkInOneCall() {
        byte[] superFrame = Frames.tcp4(B, A, 0xc6120001, 0xc6120002, 40000, 5201, 1, 64_000);
        Frame f = load(superFrame);
        f.setOffload(VnetHeader.FLAG_NEEDS_CSUM, VnetHeader.GSO_TCPV4, 54, 8910, 34, 16);
        segmenter.send(f, out.queue(0), counters);
        List<MemoryPort.Sent> one = out.drain();
        RecordingBatchSink sink = new RecordingBatchSink(64);
        segmenter.send(f, sink, counters, 8964, DropReason.TOO_BIG_FOR_TUNNEL);
        assertEquals(List.of(8), sink.calls, "8 segments of 8910 bytes (an inner MTU of 8950) in one call");
        for (int i = 0; i < one.size(); i++) {
            assertTrue(java.util.Arrays.equals(one.get(i).bytes(), sink.frames.get(i)), "segment " + i + " as a plain sink gets it");
        }
        assertEquals(8964, sink.frames.get(0).length);
    }

    @Test
    void smallSegmentsBeyondTheScratchAreSentInSeveralBatches() {
        // 536-byte segments: 112 of them, more than one batch (64) and more than the scratch fragments (64).
        Frame f = load(Frames.tcp4(B, A, 0xc6120001, 0xc6120002, 40000, 5201, 1, 60_000));
        f.setOffload(VnetHeader.FLAG_NEEDS_CSUM, VnetHeader.GSO_TCPV4, 54, 536, 34, 16);
        RecordingBatchSink sink = new RecordingBatchSink(128);
        segmenter.send(f, sink, counters);
        assertEquals(112, sink.frames.size());
        assertEquals(112, sink.calls.stream().mapToInt(Integer::intValue).sum());
        assertEquals(0, counters.drops(DropReason.NO_BUFFER));
        int seen = 0;
        for (byte[] s : sink.frames) {
            assertEquals(1 + seen, ByteBuffer.wrap(s).getInt(38), "sequence number");
            seen += s.length - 54;
        }
        assertEquals(60_000, seen);
    }
}
