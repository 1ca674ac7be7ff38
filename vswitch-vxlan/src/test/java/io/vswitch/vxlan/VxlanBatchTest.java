package io.vswitch.vxlan;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.frame.DropReason;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.frame.FrameParser;
import io.vswitch.core.frame.VnetHeader;
import io.vswitch.core.gso.Segmenter;
import io.vswitch.core.port.FrameSink;
import io.vswitch.core.port.QueueCounters;
import io.vswitch.core.testing.Frames;
import io.vswitch.linux.Allocations;
import io.vswitch.linux.DirectAddress;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * The segments of a TCP super-frame leave a VXLAN port in one {@code sendmmsg} batch and arrive at a
 * real kernel UDP socket (the other port's) exactly as the plain segmenter cuts them; with
 * {@code --udp-csum} the receiving kernel verifies the checksum of every datagram (a wrong one is
 * dropped there, and the count comes up short).
 */
class VxlanBatchTest {
    private static final long MAC_A = 0x02_00_00_00_0a_01L;
    private static final long MAC_B = 0x02_00_00_00_0b_01L;

    @ParameterizedTest(name = "udp checksum {0}")
    @ValueSource(booleans = {false, true})
    void aSuperFramesSegmentsArriveIntactAndInOrder(boolean udpCsum) throws Exception {
        try (LoopbackPair pair = new LoopbackPair(77, List.of(LoopbackPair.B), List.of(LoopbackPair.A), udpCsum)) {
            FragAllocator allocator = LoopbackPair.allocator();
            Segmenter segmenter = new Segmenter(DirectAddress.INSTANCE);
            Frame superFrame = superFrame(allocator, 30_001);
            List<byte[]> expected = new ArrayList<>();
            QueueCounters ignored = new QueueCounters();
            segmenter.send(superFrame, frame -> {
                expected.add(frame.toBytes());
                return FrameSink.SENT;
            }, ignored, pair.a.maxFrameLength(), DropReason.TOO_BIG_FOR_TUNNEL);

            QueueCounters counters = new QueueCounters();
            segmenter.send(superFrame, pair.a.queue(0), counters, pair.a.maxFrameLength(), DropReason.TOO_BIG_FOR_TUNNEL);
            assertEquals(expected.size(), counters.txPackets(), "every segment reported sent");

            List<byte[]> received = receive(pair.b, expected.size());
            assertEquals(expected.size(), received.size(), "segments that reached B's socket");
            for (int i = 0; i < expected.size(); i++) {
                assertArrayEquals(expected.get(i), received.get(i), "segment " + i);
            }
            assertEquals(LoopbackPair.A, pair.b.remoteOf(MAC_A));
            superFrame.release();
        }
    }

    @Test
    void segmentingIntoTheTunnelAllocatesNothing() throws Exception {
        try (LoopbackPair pair = new LoopbackPair(78)) {
            FragAllocator allocator = LoopbackPair.allocator();
            Segmenter segmenter = new Segmenter(DirectAddress.INSTANCE);
            Frame superFrame = superFrame(allocator, 20_000);
            pair.a.macs().learn(0, MAC_B, 0, System.nanoTime());
            QueueCounters counters = new QueueCounters();
            FrameBatch batch = new FrameBatch(FrameBatch.DEFAULT_CAPACITY);
            long[] done = new long[1];
            Runnable roundTrip = () -> {
                long before = counters.txPackets();
                segmenter.send(superFrame, pair.a.queue(0), counters, pair.a.maxFrameLength(), DropReason.TOO_BIG_FOR_TUNNEL);
                done[0] += LoopbackPair.drain(pair.b, batch, (int) (counters.txPackets() - before));
            };
            long allocated = Allocations.bytesForFrames(roundTrip, 20_000, done);
            assertTrue(allocated < 2_000, "allocated " + allocated + " bytes for 20000 segments");
            superFrame.release();
        }
    }

    private static Frame superFrame(FragAllocator allocator, int payload) {
        byte[] bytes = Frames.tcp4(MAC_B, MAC_A, 0xc6130001, 0xc6130002, 40000, 5201, 7, payload);
        Frame f = new Frame();
        assertTrue(allocator.allocate(f, bytes.length));
        f.write(bytes, 0, bytes.length);
        assertEquals(FrameParser.OK, FrameParser.parse(f));
        f.setOffload(VnetHeader.FLAG_NEEDS_CSUM, VnetHeader.GSO_TCPV4, 54, 1448, 34, 16);
        f.setFlowHash(0x5eed_1234);
        return f;
    }

    /** Receives on {@code port} until {@code want} frames came or 2 s passed; copies and releases them. */
    private static List<byte[]> receive(VxlanPort port, int want) {
        List<byte[]> got = new ArrayList<>();
        FrameBatch batch = new FrameBatch(FrameBatch.DEFAULT_CAPACITY);
        long deadline = System.nanoTime() + 2_000_000_000L;
        while (got.size() < want && System.nanoTime() < deadline) {
            port.queue(0).receive(batch);
            for (int i = 0; i < batch.count(); i++) {
                got.add(batch.get(i).toBytes());
                batch.get(i).release();
            }
            batch.clear();
        }
        return got;
    }
}
