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
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Jumbo inner frames on real loopback sockets, with the inner MTU a 9000-byte underlay gives (8950):
 * a datagram carrying a full-size inner frame is read whole into the queue's allocator (it used to be
 * truncated into a 2 KiB fragment and dropped as {@code oversize}), one larger than any port on the
 * socket accepts still is, the socket reads as much as its largest port accepts whatever VNI a
 * datagram is for, jumbo frames and the jumbo segments of a super-frame cross whole, and the jumbo
 * path (segmenting included) allocates nothing per frame.
 */
class VxlanJumboTest {
    private static final int JUMBO_MTU = 8950;
    private static final int JUMBO_FRAME = JUMBO_MTU + 14;
    private static final long MAC_A = 0x02_00_00_00_0a_01L;
    private static final long MAC_B = 0x02_00_00_00_0b_01L;

    @Test
    void aNineThousandByteDatagramIsReadWholeWhereTheUnderlayCarriesIt() throws Exception {
        try (LoopbackPair pair = new LoopbackPair(90); // loopback's MTU is 65536: the inner MTU is as large as a port allows
                DatagramSocket fromA = new DatagramSocket(new InetSocketAddress(InetAddress.getByName(LoopbackPair.A), 0))) {
            assertEquals(VxlanSettings.MAX_INNER_MTU, pair.b.innerMtu());
            byte[] d = datagram(90, 9000 - 8);
            fromA.send(new DatagramPacket(d, d.length, new InetSocketAddress(InetAddress.getByName(LoopbackPair.B), pair.dstPort)));
            List<byte[]> got = LoopbackPair.receive(pair.b, 1);
            assertEquals(0, pair.b.drops(VxlanDrop.OVERSIZE), "the datagram was not truncated");
            assertEquals(1, got.size());
            assertArrayEquals(Arrays.copyOfRange(d, 8, d.length), got.get(0), "the inner frame, whole");
        }
    }

    @Test
    void aJumboDatagramIsReceivedWholeAndALongerOneDroppedAsOversize() throws Exception {
        int dstPort = LoopbackPair.freeUdpPort();
        VxlanPort b = open("vxb", 91, LoopbackPair.B, LoopbackPair.A, dstPort, JUMBO_MTU);
        try (DatagramSocket fromA = new DatagramSocket(new InetSocketAddress(InetAddress.getByName(LoopbackPair.A), 0))) {
            InetSocketAddress to = new InetSocketAddress(InetAddress.getByName(LoopbackPair.B), dstPort);
            byte[] whole = datagram(91, JUMBO_FRAME + 4); // the inner MTU under an 802.1Q tag: 8968 bytes, a 8976-byte datagram
            fromA.send(new DatagramPacket(whole, whole.length, to));
            byte[] tooLong = datagram(91, JUMBO_FRAME + 5);
            fromA.send(new DatagramPacket(tooLong, tooLong.length, to));
            fromA.send(new DatagramPacket(whole, whole.length, to));

            List<byte[]> got = LoopbackPair.receive(b, 2);
            assertEquals(2, got.size(), "both full-size datagrams read");
            for (byte[] frame : got) {
                assertArrayEquals(Arrays.copyOfRange(whole, 8, whole.length), frame, "the inner frame, whole");
            }
            assertEquals(1, b.drops(VxlanDrop.OVERSIZE), "the datagram one byte longer than the port accepts");
            assertEquals(0, b.queue(0).allocator().liveFrames(), "every fragment given back");
            assertEquals(0, b.queue(0).allocator().largeCount(), "read into chunk fragments, no large buffer");
        } finally {
            b.close();
        }
    }

    @Test
    void theSocketReadsWhatItsLargestPortAcceptsForEveryVni() throws Exception {
        int dstPort = LoopbackPair.freeUdpPort();
        VxlanPort small = open("vxs", 92, LoopbackPair.B, LoopbackPair.A, dstPort, 1450);
        VxlanPort jumbo = open("vxj", 93, LoopbackPair.B, LoopbackPair.A, dstPort, JUMBO_MTU);
        try (DatagramSocket fromA = new DatagramSocket(new InetSocketAddress(InetAddress.getByName(LoopbackPair.A), 0))) {
            InetSocketAddress to = new InetSocketAddress(InetAddress.getByName(LoopbackPair.B), dstPort);
            byte[] forJumbo = datagram(93, JUMBO_FRAME);
            fromA.send(new DatagramPacket(forJumbo, forJumbo.length, to));
            assertEquals(1, LoopbackPair.receive(small, 1).size(), "the first port reads for both VNIs");
            assertEquals(jumbo, small.queue(0).receiver(0));

            jumbo.close();
            fromA.send(new DatagramPacket(forJumbo, forJumbo.length, to));
            byte[] forSmall = datagram(92, FragAllocator.MAX_FRAGMENT_FRAME);
            fromA.send(new DatagramPacket(forSmall, forSmall.length, to));
            assertEquals(1, LoopbackPair.receive(small, 1).size(), "a small port alone still reads a 2 KiB fragment");
            assertEquals(1, small.drops(VxlanDrop.OVERSIZE), "with the jumbo port gone, a jumbo datagram is too long");
            assertEquals(0, small.queue(0).allocator().liveFrames(), "every fragment given back");
        } finally {
            jumbo.close();
            small.close();
        }
    }

    @Test
    void aJumboFrameAndTheJumboSegmentsOfASuperFrameCrossWhole() throws Exception {
        int dstPort = LoopbackPair.freeUdpPort();
        try (VxlanPort a = open("vxa", 94, LoopbackPair.A, LoopbackPair.B, dstPort, JUMBO_MTU);
                VxlanPort b = open("vxb", 94, LoopbackPair.B, LoopbackPair.A, dstPort, JUMBO_MTU)) {
            FragAllocator allocator = LoopbackPair.allocator();
            Frame frame = LoopbackPair.frame(allocator, MAC_B, MAC_A, JUMBO_FRAME);
            assertEquals(FrameSink.SENT, a.queue(0).transmit(frame));
            List<byte[]> got = LoopbackPair.receive(b, 1);
            assertEquals(1, got.size());
            assertArrayEquals(frame.toBytes(), got.get(0));
            Frame tooBig = LoopbackPair.frame(allocator, MAC_B, MAC_A, JUMBO_FRAME + 1);
            assertEquals(DropReason.TOO_BIG_FOR_TUNNEL.ordinal(), a.queue(0).transmit(tooBig));
            frame.release();
            tooBig.release();

            Frame superFrame = LoopbackPair.tcpSuperFrame(allocator, MAC_B, MAC_A, 60_000, JUMBO_MTU - 40);
            Segmenter segmenter = new Segmenter(DirectAddress.INSTANCE);
            List<byte[]> expected = new ArrayList<>();
            segmenter.send(superFrame, f -> {
                expected.add(f.toBytes());
                return FrameSink.SENT;
            }, new QueueCounters(), a.maxFrameLength(), DropReason.TOO_BIG_FOR_TUNNEL);
            assertEquals(7, expected.size(), "60000 bytes in segments of 8910");
            assertEquals(JUMBO_FRAME, expected.get(0).length, "a segment is as long as the inner MTU allows");
            QueueCounters counters = new QueueCounters();
            segmenter.send(superFrame, a.queue(0), counters, a.maxFrameLength(), DropReason.TOO_BIG_FOR_TUNNEL);
            assertEquals(expected.size(), counters.txPackets(), "every segment sent");
            List<byte[]> segments = LoopbackPair.receive(b, expected.size());
            assertEquals(expected.size(), segments.size());
            for (int i = 0; i < expected.size(); i++) {
                assertArrayEquals(expected.get(i), segments.get(i), "segment " + i);
            }
            superFrame.release();
        }
    }

    @Test
    void theJumboPathAllocatesNothing() throws Exception {
        int dstPort = LoopbackPair.freeUdpPort();
        try (VxlanPort a = open("vxa", 95, LoopbackPair.A, LoopbackPair.B, dstPort, JUMBO_MTU);
                VxlanPort b = open("vxb", 95, LoopbackPair.B, LoopbackPair.A, dstPort, JUMBO_MTU)) {
            FragAllocator allocator = LoopbackPair.allocator();
            Frame unicast = LoopbackPair.frame(allocator, MAC_B, MAC_A, JUMBO_FRAME);
            Frame flood = LoopbackPair.frame(allocator, 0xffff_ffff_ffffL, MAC_A, JUMBO_FRAME);
            a.macs().learn(0, MAC_B, 0, System.nanoTime());
            FrameBatch batch = new FrameBatch(FrameBatch.DEFAULT_CAPACITY);
            long[] done = new long[1];
            Runnable roundTrip = () -> {
                int sent = 0;
                for (int i = 0; i < 16; i++) {
                    if (a.queue(0).transmit((i & 1) == 0 ? flood : unicast) == FrameSink.SENT) {
                        sent++;
                    }
                }
                done[0] += LoopbackPair.drain(b, batch, sent);
            };
            long allocated = Allocations.bytesForFrames(roundTrip, 20_000, done);
            assertTrue(allocated < 2_000, "allocated " + allocated + " bytes for 20000 jumbo frames");
            assertEquals(0, b.drops(VxlanDrop.OVERSIZE));
            unicast.release();
            flood.release();
        }
    }

    @Test
    void segmentingIntoJumboSegmentsAllocatesNothing() throws Exception {
        int dstPort = LoopbackPair.freeUdpPort();
        try (VxlanPort a = open("vxa", 96, LoopbackPair.A, LoopbackPair.B, dstPort, JUMBO_MTU);
                VxlanPort b = open("vxb", 96, LoopbackPair.B, LoopbackPair.A, dstPort, JUMBO_MTU)) {
            Frame superFrame = LoopbackPair.tcpSuperFrame(LoopbackPair.allocator(), MAC_B, MAC_A, 60_000, JUMBO_MTU - 40);
            Segmenter segmenter = new Segmenter(DirectAddress.INSTANCE);
            a.macs().learn(0, MAC_B, 0, System.nanoTime());
            QueueCounters counters = new QueueCounters();
            FrameBatch batch = new FrameBatch(FrameBatch.DEFAULT_CAPACITY);
            long[] done = new long[1];
            Runnable roundTrip = () -> {
                long before = counters.txPackets();
                segmenter.send(superFrame, a.queue(0), counters, a.maxFrameLength(), DropReason.TOO_BIG_FOR_TUNNEL);
                done[0] += LoopbackPair.drain(b, batch, (int) (counters.txPackets() - before));
            };
            long allocated = Allocations.bytesForFrames(roundTrip, 10_000, done);
            assertTrue(allocated < 2_000, "allocated " + allocated + " bytes for 10000 jumbo segments");
            assertEquals(0, b.drops(VxlanDrop.OVERSIZE));
            superFrame.release();
        }
    }

    private static VxlanPort open(String name, int vni, String local, String remote, int dstPort, int innerMtu) throws Exception {
        return VxlanPort.open(name, VxlanSettings.parse(vni, local, List.of(remote), dstPort, null, null, null, null, innerMtu));
    }

    /** A VXLAN datagram for {@code vni} whose inner frame is {@code frameLength} bytes from MAC A to MAC B, numbered. */
    private static byte[] datagram(int vni, int frameLength) {
        ByteBuffer d = ByteBuffer.allocate(8 + frameLength);
        d.putInt(0x0800_0000).putInt(vni << 8);
        d.putShort((short) (MAC_B >>> 32)).putInt((int) MAC_B).putShort((short) (MAC_A >>> 32)).putInt((int) MAC_A);
        d.putShort((short) 0x0800);
        for (int i = d.position(); i < d.capacity(); i++) {
            d.put((byte) i);
        }
        return d.array();
    }
}
