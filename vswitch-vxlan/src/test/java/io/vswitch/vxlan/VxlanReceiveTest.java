package io.vswitch.vxlan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.port.FrameSink;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Receiving on real loopback sockets: bad packets from the network are each dropped under their own
 * reason, a VNI picks its port among those sharing one socket, and receiving moves to the next port
 * when the one that read for all of them is removed.
 */
class VxlanReceiveTest {
    private static final long MAC_A = 0x02_00_00_00_0a_01L;

    @Test
    void badPacketsAreDroppedEachUnderItsOwnReason() throws Exception {
        try (LoopbackPair pair = new LoopbackPair(77);
                DatagramSocket fromA = new DatagramSocket(new InetSocketAddress(InetAddress.getByName(LoopbackPair.A), 0));
                DatagramSocket stranger = new DatagramSocket(new InetSocketAddress(InetAddress.getByName("127.0.0.3"), 0))) {
            InetSocketAddress b = new InetSocketAddress(InetAddress.getByName(LoopbackPair.B), pair.dstPort);
            send(fromA, b, new byte[10]);
            send(fromA, b, datagram(0x0000_0000, 77 << 8));
            send(fromA, b, datagram(0x0800_0001, 77 << 8));
            send(fromA, b, datagram(0x0800_0000, (77 << 8) | 1));
            send(fromA, b, datagram(0x0800_0000, 78 << 8));
            send(stranger, b, datagram(0x0800_0000, 77 << 8));
            send(fromA, b, datagram(0x0800_0000, 77 << 8));
            FrameBatch batch = new FrameBatch(FrameBatch.DEFAULT_CAPACITY);
            assertEquals(1, LoopbackPair.drain(pair.b, batch, 1), "only the good one gets through");
            assertEquals(1, pair.b.drops(VxlanDrop.TRUNCATED));
            assertEquals(1, pair.b.drops(VxlanDrop.I_FLAG_MISSING));
            assertEquals(2, pair.b.drops(VxlanDrop.RESERVED_BITS));
            assertEquals(1, pair.b.drops(VxlanDrop.UNKNOWN_VNI));
            assertEquals(1, pair.b.drops(VxlanDrop.UNKNOWN_VTEP));
            assertEquals(LoopbackPair.A, pair.b.remoteOf(MAC_A));
            assertEquals(0, pair.b.queue(0).allocator().liveFrames(), "every fragment given back");
        }
    }

    @Test
    void withRemoteAnyAnUnknownVtepIsLearned() throws Exception {
        try (LoopbackPair pair = new LoopbackPair(78, List.of(LoopbackPair.B), List.of("any"));
                DatagramSocket stranger = new DatagramSocket(new InetSocketAddress(InetAddress.getByName("127.0.0.3"), 0))) {
            send(stranger, new InetSocketAddress(InetAddress.getByName(LoopbackPair.B), pair.dstPort), datagram(0x0800_0000, 78 << 8));
            assertEquals(1, LoopbackPair.drain(pair.b, new FrameBatch(8), 1));
            assertEquals("127.0.0.3", pair.b.remoteOf(MAC_A));
            assertEquals(0, pair.b.drops(VxlanDrop.UNKNOWN_VTEP));
        }
    }

    @Test
    void portsOnOneSocketAreChosenByVniAndReceivingMovesOn() throws Exception {
        int dstPort = LoopbackPair.freeUdpPort();
        VxlanPort a1 = open("a1", 1, LoopbackPair.A, LoopbackPair.B, dstPort);
        VxlanPort a2 = open("a2", 2, LoopbackPair.A, LoopbackPair.B, dstPort);
        VxlanPort b1 = open("b1", 1, LoopbackPair.B, LoopbackPair.A, dstPort);
        VxlanPort b2 = open("b2", 2, LoopbackPair.B, LoopbackPair.A, dstPort);
        try {
            assertThrows(IllegalArgumentException.class, () -> open("b3", 2, LoopbackPair.B, LoopbackPair.A, dstPort),
                    "one port per VNI on a socket");
            assertThrows(IllegalArgumentException.class, () -> VxlanPort.open("b4", VxlanSettings.parse(3, LoopbackPair.B,
                    List.of(LoopbackPair.A), dstPort, 9, null, null, null, null)), "socket options must agree");
            FragAllocator allocator = LoopbackPair.allocator();
            Frame frame = LoopbackPair.frame(allocator, 0xffff_ffff_ffffL, MAC_A, 100);
            FrameBatch batch = new FrameBatch(8);
            assertEquals(FrameSink.SENT, a1.queue(0).transmit(frame));
            assertEquals(FrameSink.SENT, a2.queue(0).transmit(frame));
            assertEquals(FrameSink.SENT, a2.queue(0).transmit(frame));
            assertEquals(3, receive(b1, batch, 3), "the first port on the socket reads for both");
            assertSame(b1, b1.queue(0).receiver(0));
            assertSame(b2, b1.queue(0).receiver(1));
            assertSame(b2, b1.queue(0).receiver(2));
            release(batch);
            assertEquals(0, b2.queue(0).receive(batch), "b2 does not read while b1 does");

            b1.close();
            assertEquals(FrameSink.SENT, a1.queue(0).transmit(frame));
            assertEquals(FrameSink.SENT, a2.queue(0).transmit(frame));
            assertEquals(1, receive(b2, batch, 2), "b2 reads now; VNI 1 has no port any more");
            assertSame(b2, b2.queue(0).receiver(0));
            release(batch);
            assertEquals(1, b2.drops(VxlanDrop.UNKNOWN_VNI));
            frame.release();
        } finally {
            for (VxlanPort p : new VxlanPort[] {b2, b1, a2, a1}) {
                p.close();
            }
        }
    }

    private static VxlanPort open(String name, int vni, String local, String remote, int dstPort) throws Exception {
        return VxlanPort.open(name, VxlanSettings.parse(vni, local, List.of(remote), dstPort, null, null, null, null, null));
    }

    /** Receives until {@code want} frames are in the batch (or 2 s passed); keeps them there. */
    private static int receive(VxlanPort port, FrameBatch batch, int want) {
        long deadline = System.nanoTime() + 2_000_000_000L;
        while (batch.count() < want && System.nanoTime() < deadline) {
            port.queue(0).receive(batch);
        }
        return batch.count();
    }

    private static void release(FrameBatch batch) {
        for (int i = 0; i < batch.count(); i++) {
            batch.get(i).release();
        }
        batch.clear();
    }

    /** A VXLAN header with these two words, then a 60-byte frame from MAC_A to broadcast. */
    private static byte[] datagram(int flagsWord, int vniWord) {
        ByteBuffer b = ByteBuffer.allocate(8 + 60);
        b.putInt(flagsWord).putInt(vniWord);
        b.putShort((short) 0xffff).putInt(-1);
        b.putShort((short) (MAC_A >>> 32)).putInt((int) MAC_A);
        b.putShort((short) 0x0806);
        return b.array();
    }

    private static void send(DatagramSocket from, InetSocketAddress to, byte[] data) throws Exception {
        from.send(new DatagramPacket(data, data.length, to));
    }
}
