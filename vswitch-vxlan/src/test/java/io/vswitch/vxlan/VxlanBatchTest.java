package io.vswitch.vxlan;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.frame.DropReason;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.gso.Segmenter;
import io.vswitch.core.port.FrameSink;
import io.vswitch.core.port.QueueCounters;
import io.vswitch.linux.Allocations;
import io.vswitch.linux.DirectAddress;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
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
            Frame superFrame = LoopbackPair.tcpSuperFrame(allocator, MAC_B, MAC_A, 30_001, 1448);
            List<byte[]> expected = new ArrayList<>();
            QueueCounters ignored = new QueueCounters();
            segmenter.send(superFrame, frame -> {
                expected.add(frame.toBytes());
                return FrameSink.SENT;
            }, ignored, pair.a.maxFrameLength(), DropReason.TOO_BIG_FOR_TUNNEL);

            QueueCounters counters = new QueueCounters();
            segmenter.send(superFrame, pair.a.queue(0), counters, pair.a.maxFrameLength(), DropReason.TOO_BIG_FOR_TUNNEL);
            assertEquals(expected.size(), counters.txPackets(), "every segment reported sent");

            List<byte[]> received = LoopbackPair.receive(pair.b, expected.size());
            assertEquals(expected.size(), received.size(), "segments that reached B's socket");
            for (int i = 0; i < expected.size(); i++) {
                assertArrayEquals(expected.get(i), received.get(i), "segment " + i);
            }
            assertEquals(LoopbackPair.A, pair.b.remoteOf(MAC_A));
            superFrame.release();
        }
    }

    /**
     * The bridge's deferred transmit hands the port frames of several flows at once: different sender
     * sockets, lengths that do and do not make UDP GSO runs, a frame for an unknown MAC (to every VTEP).
     * Each arrives whole, in order, and the frames' bytes are as before.
     */
    @ParameterizedTest(name = "udp checksum {0}")
    @ValueSource(booleans = {false, true})
    void aBatchOfMixedFramesArrivesWholeAndInOrder(boolean udpCsum) throws Exception {
        try (LoopbackPair pair = new LoopbackPair(81, List.of(LoopbackPair.B), List.of(LoopbackPair.A), udpCsum)) {
            pair.a.macs().learn(0, MAC_B, 0, System.nanoTime());
            FragAllocator allocator = LoopbackPair.allocator();
            Frame[] frames = new Frame[24];
            List<byte[]> expected = new ArrayList<>();
            for (int i = 0; i < frames.length; i++) {
                long dst = i == 7 ? 0x02_00_00_00_0c_01L : MAC_B;
                frames[i] = LoopbackPair.frame(allocator, dst, MAC_A, i % 3 == 2 ? 200 + i : 1000);
                frames[i].putU16(14, i);
                frames[i].setFlowHash((i / 6) * 0x0123_4567); // runs of one flow: 1000, 1000, short make a UDP GSO message
                expected.add(frames[i].toBytes());
            }
            int[] results = new int[frames.length];
            pair.a.queue(0).transmit(frames, frames.length, results);
            for (int i = 0; i < frames.length; i++) {
                assertEquals(FrameSink.SENT, results[i], "frame " + i);
                assertArrayEquals(expected.get(i), frames[i].toBytes(), "frame " + i + " untouched");
                frames[i].release();
            }
            List<byte[]> received = LoopbackPair.receive(pair.b, frames.length);
            assertEquals(frames.length, received.size(), "frames that reached B");
            for (int i = 0; i < frames.length; i++) {
                assertArrayEquals(expected.get(i), received.get(i), "frame " + i);
            }
        }
    }

    @Test
    void segmentingIntoTheTunnelAllocatesNothing() throws Exception {
        try (LoopbackPair pair = new LoopbackPair(78)) {
            FragAllocator allocator = LoopbackPair.allocator();
            Segmenter segmenter = new Segmenter(DirectAddress.INSTANCE);
            Frame superFrame = LoopbackPair.tcpSuperFrame(allocator, MAC_B, MAC_A, 20_000, 1448);
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

    @Test
    void aFloodedSuperFrameReachesEveryVtep() throws Exception {
        try (LoopbackPair pair = new LoopbackPair(79, List.of("127.0.0.3", LoopbackPair.B), List.of(LoopbackPair.A), true);
                DatagramSocket third = new DatagramSocket(new InetSocketAddress("127.0.0.3", pair.dstPort))) {
            third.setSoTimeout(2000);
            Segmenter segmenter = new Segmenter(DirectAddress.INSTANCE);
            Frame superFrame = LoopbackPair.tcpSuperFrame(LoopbackPair.allocator(), MAC_B, MAC_A, 10_000, 1448);
            QueueCounters counters = new QueueCounters();
            segmenter.send(superFrame, pair.a.queue(0), counters, pair.a.maxFrameLength(), DropReason.TOO_BIG_FOR_TUNNEL);
            int segments = (int) counters.txPackets();
            assertEquals(7, segments);
            List<byte[]> atB = LoopbackPair.receive(pair.b, segments);
            assertEquals(segments, atB.size(), "segments at B");
            byte[] buffer = new byte[2048];
            for (int i = 0; i < segments; i++) {
                DatagramPacket p = new DatagramPacket(buffer, buffer.length);
                third.receive(p);
                assertArrayEquals(atB.get(i), Arrays.copyOfRange(buffer, 8, p.getLength()), "segment " + i + " at the third VTEP");
            }
            superFrame.release();
        }
    }

    @Test
    void aFlowKeepsItsSourcePortAndFlowsSpreadOverTheKernelsRange() throws Exception {
        String[] range = Files.readAllLines(Path.of("/proc/sys/net/ipv4/ip_local_port_range")).get(0).trim().split("\\s+");
        try (DatagramSocket remote = new DatagramSocket(new InetSocketAddress(LoopbackPair.B, 0))) {
            remote.setSoTimeout(2000);
            VxlanPort a = VxlanPort.open("vxs", VxlanSettings.parse(80, LoopbackPair.A, List.of(LoopbackPair.B), remote.getLocalPort(),
                    null, null, null, null, null));
            try {
                FragAllocator allocator = LoopbackPair.allocator();
                Frame frame = LoopbackPair.frame(allocator, MAC_B, MAC_A, 100);
                Map<Integer, Integer> portOfFlow = new HashMap<>();
                byte[] buffer = new byte[2048];
                for (int round = 0; round < 2; round++) {
                    for (int flow = 0; flow < 64; flow++) {
                        frame.setFlowHash(flow * 0x0123_4567);
                        assertEquals(FrameSink.SENT, a.queue(0).transmit(frame));
                        DatagramPacket p = new DatagramPacket(buffer, buffer.length);
                        remote.receive(p);
                        Integer before = portOfFlow.putIfAbsent(flow, p.getPort());
                        assertTrue(before == null || before == p.getPort(), "flow " + flow + " moved from port " + before + " to " + p.getPort());
                        assertTrue(p.getPort() >= Integer.parseInt(range[0]) && p.getPort() <= Integer.parseInt(range[1]), "port " + p.getPort());
                    }
                }
                Set<Integer> ports = new HashSet<>(portOfFlow.values());
                assertTrue(ports.size() >= VxlanSocket.SENDERS / 2, "64 flows on " + ports.size() + " source ports");
                frame.release();
            } finally {
                a.close();
            }
        }
    }
}
