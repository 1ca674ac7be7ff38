package io.vswitch.system;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.linux.LibC;
import io.vswitch.linux.NativeBuffer;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The receive ring of a system port ({@link PacketRing}, {@link PacketReceiver}) on a real veth pair,
 * with a raw packet socket writing from the far end: slots reused after the ring wraps, frames too
 * big for a slot, the kernel's drops when the ring is full.
 */
class PacketRingTest {
    private static final LibC LIBC = LibC.INSTANCE;
    private static final int JUMBO_MTU = 9000;
    /** Where a frame starts in its slot ({@code tp_mac}): tpacket2_hdr and sockaddr_ll aligned, then the virtio-net header. */
    private static final int SLOT_FRAME_OFFSET = 76;

    private VethPair veth;
    private int wire = -1;

    @AfterEach
    void cleanUp() {
        if (wire >= 0) {
            LIBC.close(wire);
        }
        if (veth != null) {
            veth.close();
        }
    }

    private SystemPort open(int mtu) throws IOException {
        veth = VethPair.create(mtu);
        wire = veth.wireSocket();
        return SystemPort.open(veth.portSide, 1);
    }

    /** A tagged frame (see {@link SystemPortTest#taggedFrame}) with {@code sequence} after the EtherType. */
    private static byte[] numbered(int payload, int sequence) {
        byte[] f = SystemPortTest.taggedFrame(payload);
        f[18] = (byte) (sequence >>> 24);
        f[19] = (byte) (sequence >>> 16);
        f[20] = (byte) (sequence >>> 8);
        f[21] = (byte) sequence;
        return f;
    }

    private void send(byte[] frame) {
        try (NativeBuffer out = new NativeBuffer(frame.length)) {
            out.put(0, frame, 0, frame.length);
            assertEquals(frame.length, LIBC.write(wire, out.address(), frame.length), "write on the wire side");
        }
    }

    /**
     * Receives until {@code expected} test frames came or nothing more arrives for 300 ms; returns
     * their bytes. Frames of the veth's own IPv6 stack (router solicitations, MLD) are left out.
     */
    private static List<byte[]> receive(SystemQueue q, int expected) {
        List<byte[]> got = new ArrayList<>();
        FrameBatch batch = new FrameBatch(FrameBatch.DEFAULT_CAPACITY);
        long quietUntil = System.nanoTime() + 300_000_000L;
        while (got.size() < expected && System.nanoTime() < quietUntil) {
            int n = q.receive(batch);
            assertTrue(n >= 0, "the queue reported its interface gone");
            for (int i = 0; i < batch.count(); i++) {
                Frame f = batch.get(i);
                if (f.length() > 18 && f.u16(12) == 0x8100 && f.u16(16) == 0x88b5) {
                    got.add(f.toBytes());
                }
                f.release();
            }
            batch.clear();
            if (n > 0) {
                quietUntil = System.nanoTime() + 300_000_000L;
            }
        }
        return got;
    }

    @Test
    void slotsAreReusedInOrderAfterTheRingWraps() throws IOException {
        try (SystemPort port = open(1500)) {
            int rounds = 5;
            int perRound = 1000; // 5000 frames: the 2048 slots wrap twice
            int sequence = 0;
            for (int r = 0; r < rounds; r++) {
                int first = sequence;
                for (int i = 0; i < perRound; i++) {
                    send(numbered(46 + sequence % 200, sequence++));
                }
                List<byte[]> got = receive(port.queue(0), perRound);
                assertEquals(perRound, got.size(), "round " + r);
                for (int i = 0; i < perRound; i++) {
                    assertArrayEquals(numbered(46 + (first + i) % 200, first + i), got.get(i), "frame " + (first + i));
                }
            }
            assertEquals(0, port.count(SystemPort.Event.KERNEL_DROPS));
        }
    }

    @Test
    void aFrameLargerThanASlotArrivesWholeBetweenTheOthers() throws IOException {
        try (SystemPort port = open(JUMBO_MTU)) {
            byte[] before = numbered(100, 1);
            byte[] jumbo = numbered(6000, 2);
            byte[] after = numbered(100, 3);
            send(before);
            send(jumbo);
            send(after);
            List<byte[]> got = receive(port.queue(0), 3);
            assertEquals(3, got.size());
            assertArrayEquals(before, got.get(0), "from its slot, tag restored from tp_vlan_tci");
            assertArrayEquals(jumbo, got.get(1), "from the socket queue, tag restored from the auxdata");
            assertArrayEquals(after, got.get(2));
            assertEquals(0, port.count(SystemPort.Event.RECEIVED_OVERSIZE));
        }
    }

    /**
     * Jumbo frames held in one batch, as the datapath thread holds a batch until it is forwarded: each
     * takes a fragment of its own length from the queue's chunks, not one of the few large buffers kept
     * for GSO super-frames, so the batch is not cut at {@link FragAllocator#DEFAULT_MAX_LARGE}.
     */
    @Test
    void aBatchOfJumboFramesReadBySocketCopiesIsNotCutAtTheLargeBuffers() throws IOException {
        try (SystemPort port = open(JUMBO_MTU)) {
            receivesAllHeldInOneBatch(port, 32, 8000);
        }
    }

    /** The same for frames the ring copies out of their slots: a full slot holds more than a 2 KiB fragment. */
    @Test
    void aBatchOfFramesFillingTheirSlotsIsNotCutAtTheLargeBuffers() throws IOException {
        int untagged = PacketRing.SLOT_SIZE - SLOT_FRAME_OFFSET;
        assertTrue(untagged > FragAllocator.MAX_FRAGMENT_FRAME, "the test needs frames over a 2 KiB fragment");
        int payload = untagged - 14; // the kernel strips the tag before the frame goes into the slot
        try (SystemPort port = open(payload)) {
            receivesAllHeldInOneBatch(port, 32, payload);
        }
    }

    /** Sends {@code count} numbered frames of {@code payload}, receives them into one batch without releasing any. */
    private void receivesAllHeldInOneBatch(SystemPort port, int count, int payload) {
        for (int i = 0; i < count; i++) {
            send(numbered(payload, i));
        }
        SystemQueue q = port.queue(0);
        FrameBatch batch = new FrameBatch(FrameBatch.DEFAULT_CAPACITY);
        try {
            long quietUntil = System.nanoTime() + 300_000_000L;
            while (batch.count() < count && System.nanoTime() < quietUntil) {
                if (q.receive(batch) > 0) {
                    quietUntil = System.nanoTime() + 300_000_000L;
                }
            }
            assertEquals(count, batch.count(), "frames received into one batch while it is held");
            for (int i = 0; i < count; i++) {
                assertArrayEquals(numbered(payload, i), batch.get(i).toBytes(), "frame " + i);
            }
            assertEquals(0, q.allocator().exhausted(), "allocations refused");
            assertEquals(0, q.allocator().largeCount(), "large buffers taken");
            assertEquals(0, port.count(SystemPort.Event.KERNEL_DROPS));
            assertEquals(0, port.count(SystemPort.Event.RECEIVED_OVERSIZE));
        } finally {
            for (int i = 0; i < batch.count(); i++) {
                batch.get(i).release();
            }
        }
    }

    @Test
    void aFrameLargerThanASlotWithoutRoomForACopyIsCountedAndDropped() throws IOException {
        try (SystemPort port = open(JUMBO_MTU); NativeBuffer v = new NativeBuffer(4)) {
            SystemQueue q = port.queue(0);
            // The smallest receive buffer: after one queued jumbo copy the kernel makes no more copies.
            v.putInt(0, 0);
            assertEquals(0, LIBC.setsockopt(q.fd(), LibC.SOL_SOCKET, LibC.SO_RCVBUF, v.address(), 4));
            byte[] copied = numbered(8000, 1);
            send(copied);
            send(numbered(8000, 2));
            send(numbered(8000, 3));
            byte[] small = numbered(100, 4);
            send(small);
            List<byte[]> got = receive(q, 2);
            assertEquals(2, got.size());
            assertArrayEquals(copied, got.get(0));
            assertArrayEquals(small, got.get(1));
            assertEquals(2, port.count(SystemPort.Event.KERNEL_DROPS), "truncated in their slots, no copy: dropped");
            assertEquals(0, port.count(SystemPort.Event.RECEIVED_OVERSIZE));
        }
    }

    @Test
    void framesLargerThanASlotAreReadWithoutAllocating() throws Exception {
        try (SystemPort port = open(JUMBO_MTU)) {
            SystemQueue q = port.queue(0);
            int frames = 5_000;
            long allocated = FloodAllocations.whileReceiving(q, wire, numbered(4000, 0), frames);
            // Every frame counted came whole through the socket queue (4000 bytes fit no slot); what the
            // flood put beyond the socket's buffer is counted as kernel drops, not read.
            assertTrue(allocated < frames / 10, "receive allocated " + allocated + " bytes for " + frames + " frames");
        }
    }

    @Test
    void framesTheKernelDroppedOnAFullRingAreCounted() throws IOException {
        try (SystemPort port = open(1500)) {
            int sent = PacketRing.SLOTS + 500;
            for (int i = 0; i < sent; i++) {
                send(numbered(46, i));
            }
            int received = receive(port.queue(0), sent).size();
            assertEquals(0, port.count(SystemPort.Event.KERNEL_DROPS), "counted when the kernel next marks a slot");
            send(numbered(46, sent++));
            received += receive(port.queue(0), 1).size();
            long drops = port.count(SystemPort.Event.KERNEL_DROPS);
            assertTrue(received <= PacketRing.SLOTS + 1, received + " frames through a ring of " + PacketRing.SLOTS);
            assertEquals(sent, received + drops, "every frame sent was received or counted as dropped");
        }
    }
}
