package io.vswitch.core.bridge;

import static io.vswitch.core.testing.Frames.mac;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import io.vswitch.core.alloc.NativeAddress;
import io.vswitch.core.frame.DropReason;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.gso.Segmenter;
import io.vswitch.core.port.Offloads;
import io.vswitch.core.port.QueueCounters;
import io.vswitch.core.testing.Frames;
import io.vswitch.core.testing.MemoryPort;
import io.vswitch.core.vlan.VlanMembership;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Known unicast to a {@link io.vswitch.core.port.BatchSink} is sent once per output queue at the end
 * of the receive batch (the leak detector checks every frame is released once, after its send).
 */
class DeferredTransmitTest {
    private static final long A = mac("02:00:00:00:00:0a");
    private static final long B = mac("02:00:00:00:00:0b");
    private static final long C = mac("02:00:00:00:00:0c");

    private final Bridge bridge = new Bridge();
    private final Forwarder forwarder = new Forwarder(bridge, new Segmenter(NativeAddress.NONE));
    private final FrameBatch batch = new FrameBatch(FrameBatch.DEFAULT_CAPACITY);
    private final BridgePort a = bridge.attach(new MemoryPort("a", 1), VlanMembership.DEFAULT);
    private final Ingress fromA = new Ingress(bridge, a, 0, forwarder);

    private BridgePort batchPort(String name, long mac, int capacity) {
        BridgePort p = bridge.attach(new MemoryPort(name, 1, Offloads.NONE, true, capacity), VlanMembership.DEFAULT);
        bridge.fdb().learn(0, mac, p.index(), 0);
        return p;
    }

    private static MemoryPort.BatchQueue queue(BridgePort p) {
        return (MemoryPort.BatchQueue) ((MemoryPort) p.port()).queue(0);
    }

    private static QueueCounters out(BridgePort p) {
        return p.counters().queue(0);
    }

    private static byte[] toB(int i) {
        return Frames.udp4(B, A, 0xc6122801, 0xc6122802, 1000 + i, 2000, 20 + i);
    }

    private static byte[] toC(int i) {
        return Frames.udp4(C, A, 0xc6122801, 0xc6122803, 1000 + i, 2000, 20 + i);
    }

    private void receiveFromA(List<byte[]> frames) {
        for (byte[] f : frames) {
            ((MemoryPort) a.port()).queue(0).inject(f);
        }
        assertEquals(frames.size(), ((MemoryPort) a.port()).queue(0).receive(batch));
        fromA.process(batch, 0);
    }

    private static void assertSent(List<byte[]> expected, BridgePort p) {
        List<MemoryPort.Sent> sent = ((MemoryPort) p.port()).drain();
        assertEquals(expected.size(), sent.size(), "frames at " + p.name());
        for (int i = 0; i < expected.size(); i++) {
            assertArrayEquals(expected.get(i), sent.get(i).bytes(), "frame " + i + " at " + p.name());
        }
    }

    @Test
    void unicastGoesOutOncePerQueueAtTheEndOfTheBatch() {
        BridgePort b = batchPort("b", B, 64);
        BridgePort c = batchPort("c", C, 64);
        List<byte[]> forB = new ArrayList<>();
        List<byte[]> forC = new ArrayList<>();
        List<byte[]> mixed = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            forB.add(toB(i));
            forC.add(toC(i));
            mixed.add(toB(i));
            mixed.add(toC(i));
        }
        receiveFromA(mixed);
        assertEquals(List.of(20), queue(b).batchSizes(), "one call for b's 20 frames");
        assertEquals(List.of(20), queue(c).batchSizes());
        assertSent(forB, b);
        assertSent(forC, c);
        assertEquals(20, out(b).txPackets());
        assertEquals(20, out(c).txPackets());
        long bytes = 0;
        for (byte[] f : forB) {
            bytes += f.length;
        }
        assertEquals(bytes, out(b).txBytes());
        assertEquals(40, a.counters().queue(0).rxPackets());
    }

    @Test
    void aFloodInTheMiddleFollowsTheFramesBeforeIt() {
        BridgePort b = batchPort("b", B, 64);
        byte[] broadcast = Frames.arp(A);
        receiveFromA(List.of(toB(1), toB(2), toB(3), broadcast, toB(4), toB(5)));
        assertEquals(List.of(3, 0, 2), queue(b).batchSizes(), "the flood flushed b's first three, then went alone");
        assertSent(List.of(toB(1), toB(2), toB(3), broadcast, toB(4), toB(5)), b);
        assertEquals(6, out(b).txPackets());
    }

    @Test
    void aCaptureSeesEachFrameOnceAsItLeaves() {
        BridgePort b = batchPort("b", B, 64);
        List<byte[]> mirrored = new ArrayList<>();
        b.setMirror((frame, received) -> {
            if (!received) {
                mirrored.add(frame.toBytes());
            }
        });
        byte[] broadcast = Frames.arp(A);
        receiveFromA(List.of(toB(1), broadcast, toB(2), toB(3)));
        List<byte[]> expected = List.of(toB(1), broadcast, toB(2), toB(3));
        assertEquals(expected.size(), mirrored.size());
        for (int i = 0; i < expected.size(); i++) {
            assertArrayEquals(expected.get(i), mirrored.get(i), "mirrored frame " + i);
        }
        assertSent(expected, b);
    }

    @Test
    void aQueueIsSentEarlyWhenItsSinkIsFull() {
        BridgePort b = batchPort("b", B, 4);
        List<byte[]> frames = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            frames.add(toB(i));
        }
        receiveFromA(frames);
        assertEquals(List.of(4, 4, 2), queue(b).batchSizes());
        assertSent(frames, b);
    }

    @Test
    void moreOutputsThanSlotsAreAllSentInOrder() {
        int outputs = DeferredTransmit.QUEUES + 3;
        BridgePort[] ports = new BridgePort[outputs];
        List<byte[]> frames = new ArrayList<>();
        for (int p = 0; p < outputs; p++) {
            long mac = mac("02:00:00:00:01:00") + p;
            ports[p] = batchPort("p" + p, mac, 64);
            for (int i = 0; i < 2; i++) {
                frames.add(Frames.udp4(mac, A, 0xc6122801, 0xc6122804, 1000 + i, 2000, 30 + i));
            }
        }
        receiveFromA(frames);
        for (int p = 0; p < outputs; p++) {
            assertSent(frames.subList(2 * p, 2 * p + 2), ports[p]);
            assertEquals(2, out(ports[p]).txPackets());
        }
    }

    @Test
    void aSinkThrowingWhenTheSlotsRunOutDoesNotCostTheNextFrame() {
        BridgePort[] ports = new BridgePort[DeferredTransmit.QUEUES + 1];
        List<byte[]> frames = new ArrayList<>();
        for (int p = 0; p < ports.length; p++) {
            long mac = mac("02:00:00:00:02:00") + p;
            ports[p] = batchPort("p" + p, mac, 64);
            frames.add(Frames.udp4(mac, A, 0xc6122801, 0xc6122805, 1000, 2000, 40));
        }
        IllegalStateException boom = new IllegalStateException("p0 is broken");
        queue(ports[0]).throwOnTransmit(boom);
        receiveFromA(frames);
        assertEquals(1, out(ports[0]).drops(DropReason.INTERNAL_ERROR));
        for (int p = 1; p < ports.length; p++) {
            assertSent(frames.subList(p, p + 1), ports[p]);
        }
        assertEquals(0, a.counters().queue(0).dropsTotal(), "the frame that needed a free slot was forwarded");
        assertSame(boom, fromA.takeFailure());
    }

    @Test
    void framesTheSinkRefusesAreCountedAndTheRestSent() {
        BridgePort b = batchPort("b", B, 64);
        queue(b).failFrames(3, DropReason.TX_BUSY.ordinal());
        List<byte[]> frames = new ArrayList<>();
        for (int i = 0; i < 9; i++) {
            frames.add(toB(i));
        }
        receiveFromA(frames);
        assertSent(List.of(frames.get(0), frames.get(1), frames.get(3), frames.get(4), frames.get(6), frames.get(7)), b);
        assertEquals(6, out(b).txPackets());
        assertEquals(3, out(b).drops(DropReason.TX_BUSY));
        assertEquals(3, out(b).dropsTotal());
    }

    @Test
    void aThrowingSinkLosesOnlyItsOwnFrames() {
        BridgePort b = batchPort("b", B, 64);
        BridgePort c = batchPort("c", C, 64);
        IllegalStateException boom = new IllegalStateException("b is broken");
        queue(b).throwOnTransmit(boom);
        receiveFromA(List.of(toB(1), toC(1), toB(2), toC(2)));
        assertSent(List.of(toC(1), toC(2)), c);
        assertEquals(2, out(b).drops(DropReason.INTERNAL_ERROR));
        assertEquals(0, out(b).txPackets());
        assertEquals(2, out(c).txPackets());
        assertEquals(0, a.counters().queue(0).dropsTotal(), "the input's frames were all forwarded");
        assertSame(boom, fromA.takeFailure());
        assertNull(fromA.takeFailure());

        queue(b).throwOnTransmit(null);
        receiveFromA(List.of(toB(3)));
        assertSent(List.of(toB(3)), b);
        assertNull(fromA.takeFailure(), "nothing left over from the failed batch");
    }

    @Test
    void aFrameFailingInTheMiddleLeavesTheCollectedOnesIntact() {
        BridgePort b = batchPort("b", B, 64);
        BridgePort broken = bridge.attach(new MemoryPort("broken", 1), VlanMembership.DEFAULT);
        IllegalStateException boom = new IllegalStateException("flood target is broken");
        ((MemoryPort) broken.port()).queue(0).throwOnTransmit(boom);
        byte[] broadcast = Frames.arp(A);
        receiveFromA(List.of(toB(1), toB(2), broadcast, toB(3)));
        assertSent(List.of(toB(1), toB(2), broadcast, toB(3)), b);
        assertEquals(1, a.counters().queue(0).drops(DropReason.INTERNAL_ERROR), "the flood that threw");
        assertEquals(4, out(b).txPackets());
        assertSame(boom, fromA.takeFailure());
    }

    @Test
    void aSingleFrameFromASharedQueueIsSentBeforeProcessReturns() {
        BridgePort b = batchPort("b", B, 64);
        ((MemoryPort) a.port()).queue(0).inject(toB(1));
        ((MemoryPort) a.port()).queue(0).receive(batch);
        fromA.process(batch.get(0), 0);
        batch.clear();
        assertSent(List.of(toB(1)), b);
        assertEquals(List.of(1), queue(b).batchSizes());
    }
}
