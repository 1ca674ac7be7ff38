package io.vswitch.core.gso;

import static io.vswitch.core.testing.Frames.mac;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.alloc.NativeAddress;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameParser;
import io.vswitch.core.frame.VnetHeader;
import io.vswitch.core.port.QueueCounters;
import io.vswitch.core.testing.Frames;
import io.vswitch.core.testing.MemoryPort;
import java.nio.ByteBuffer;
import java.util.List;
import org.junit.jupiter.api.Test;

class SegmenterTest {
    private static final long A = mac("02:00:00:00:00:0a");
    private static final long B = mac("02:00:00:00:00:0b");
    private final FragAllocator allocator = new FragAllocator(NativeAddress.NONE);
    private final Segmenter segmenter = new Segmenter(NativeAddress.NONE);
    private final MemoryPort out = new MemoryPort("out", 1);
    private final QueueCounters counters = new QueueCounters();

    private Frame load(byte[] bytes) {
        Frame f = new Frame();
        assertTrue(allocator.allocate(f, bytes.length));
        f.write(bytes, 0, bytes.length);
        assertEquals(FrameParser.OK, FrameParser.parse(f));
        return f;
    }

    private static boolean l4ChecksumValid(ByteBuffer b, boolean v4) {
        int l3 = 14;
        int l4 = v4 ? l3 + 20 : l3 + 40;
        int l4Length = b.limit() - l4;
        int proto = v4 ? b.get(l3 + 9) : b.get(l3 + 6);
        long sum = v4 ? Checksums.pseudoIpv4(b, l3, proto, l4Length) : Checksums.pseudoIpv6(b, l3, proto, l4Length);
        return Checksums.finish(Checksums.add(b, l4, l4Length, sum)) == 0;
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
            assertTrue(l4ChecksumValid(ByteBuffer.wrap(s.bytes()), true));
            total += s.bytes().length - 54;
        }
        assertEquals(payload, total);
        assertTrue(hashes.stream().allMatch(h -> h == 0x1234_5678), "segments keep the flow hash: " + hashes);
    }

    @Test
    void aFrameOrUdpDatagramThatCannotFitIsDroppedUnderTheGivenReason() {
        Frame plain = load(Frames.udp4(B, A, 0xc6120001, 0xc6120002, 1, 2, 1500));
        segmenter.send(plain, out.queue(0), counters, 1464, io.vswitch.core.frame.DropReason.TOO_BIG_FOR_TUNNEL);
        Frame uso = load(Frames.udp4(B, A, 0xc6120001, 0xc6120002, 1, 2, 8000));
        uso.setOffload(VnetHeader.FLAG_NEEDS_CSUM, VnetHeader.GSO_UDP_L4, 42, 1472, 34, 6);
        segmenter.send(uso, out.queue(0), counters, 1464, io.vswitch.core.frame.DropReason.TOO_BIG_FOR_TUNNEL);
        assertEquals(0, out.drain().size());
        assertEquals(2, counters.drops(io.vswitch.core.frame.DropReason.TOO_BIG_FOR_TUNNEL));
    }

    @Test
    void tcp4SuperFrameBecomesValidSegments() {
        int payload = 10_000;
        byte[] superFrame = Frames.tcp4(B, A, 0xc6120001, 0xc6120002, 40000, 5201, 1_000_000, payload);
        superFrame[47] = 0x19; // ACK|PSH|FIN on the super-frame
        Frame f = load(superFrame);
        f.setOffload(VnetHeader.FLAG_NEEDS_CSUM, VnetHeader.GSO_TCPV4, 54, 1448, 34, 16);
        segmenter.send(f, out.queue(0), counters);
        List<MemoryPort.Sent> segments = out.drain();
        assertEquals((payload + 1447) / 1448, segments.size());
        int seen = 0;
        for (int i = 0; i < segments.size(); i++) {
            ByteBuffer s = ByteBuffer.wrap(segments.get(i).bytes());
            int chunk = s.limit() - 54;
            assertEquals(i + 1 < segments.size() ? 1448 : payload - 1448 * i, chunk);
            assertEquals(40 + chunk, s.getShort(16) & 0xffff);
            assertEquals(100 + i, s.getShort(18) & 0xffff, "IP ID increments");
            assertEquals(0, Checksums.finish(Checksums.add(s, 14, 20, 0)), "IPv4 header checksum");
            assertEquals(1_000_000 + seen, s.getInt(38));
            int flags = s.get(47);
            boolean last = i + 1 == segments.size();
            assertEquals(last ? 0x19 : 0x10, flags);
            assertTrue(l4ChecksumValid(s, true), "TCP checksum of segment " + i);
            for (int k = 0; k < chunk; k++) {
                assertEquals((byte) ((seen + k) * 7), s.get(54 + k));
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
            ByteBuffer s = ByteBuffer.wrap(sent.bytes());
            assertEquals(s.limit() - 54, s.getShort(18) & 0xffff, "IPv6 payload length");
            assertTrue(l4ChecksumValid(s, false));
        }
    }

    @Test
    void checksumIsCompletedInPlace() {
        byte[] udp = Frames.udp4(B, A, 0xc6120001, 0xc6120002, 1, 2, 33);
        Frame f = load(udp);
        ByteBuffer b = f.buffer();
        long pseudo = Checksums.pseudoIpv4(b, f.start() + 14, 17, 41);
        int folded = ~Checksums.finish(pseudo) & 0xffff;
        f.putU16(40, folded);
        f.setOffload(VnetHeader.FLAG_NEEDS_CSUM, VnetHeader.GSO_NONE, 0, 0, 34, 6);
        segmenter.send(f, out.queue(0), counters);
        ByteBuffer s = ByteBuffer.wrap(out.drain().get(0).bytes());
        assertTrue(l4ChecksumValid(s, true));
    }
}
