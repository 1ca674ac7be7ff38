package io.vswitch.core.bridge;

import static io.vswitch.core.testing.Frames.mac;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.alloc.NativeAddress;
import io.vswitch.core.fdb.Fdb;
import io.vswitch.core.frame.DropReason;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.gso.Segmenter;
import io.vswitch.core.testing.Frames;
import io.vswitch.core.testing.MemoryPort;
import io.vswitch.core.vlan.VlanMembership;
import java.util.List;
import org.junit.jupiter.api.Test;

class BridgeTest {
    private static final long A = mac("02:00:00:00:00:0a");
    private static final long B = mac("02:00:00:00:00:0b");
    private static final long C = mac("02:00:00:00:00:0c");

    private final Bridge bridge = new Bridge();
    private final Forwarder forwarder = new Forwarder(bridge, new Segmenter(NativeAddress.NONE));
    private final FrameBatch batch = new FrameBatch(16);
    private long now;

    private BridgePort port(String name, VlanMembership vlans) {
        return bridge.attach(new MemoryPort(name, 2), vlans);
    }

    private static MemoryPort mem(BridgePort p) {
        return (MemoryPort) p.port();
    }

    private void receive(BridgePort p, int queue, byte[]... frames) {
        for (byte[] f : frames) {
            mem(p).queue(queue).inject(f);
        }
        mem(p).queue(queue).receive(batch);
        new Ingress(bridge, p, queue, forwarder).process(batch, now);
    }

    @Test
    void learnsFloodsUnknownThenForwardsKnownUnicast() {
        BridgePort a = port("a", VlanMembership.DEFAULT);
        BridgePort b = port("b", VlanMembership.DEFAULT);
        BridgePort c = port("c", VlanMembership.DEFAULT);
        byte[] toB = Frames.udp4(B, A, 1, 2, 3, 4, 10);
        receive(a, 0, toB);
        assertEquals(1, mem(b).drain().size(), "unknown unicast flooded");
        assertEquals(1, mem(c).drain().size());
        assertEquals(a.index(), bridge.fdb().lookup(0, A));

        receive(b, 1, Frames.udp4(A, B, 2, 1, 4, 3, 10));
        List<MemoryPort.Sent> atA = mem(a).drain();
        assertEquals(1, atA.size(), "known unicast only to its port");
        assertEquals(0, mem(c).drain().size());

        receive(a, 0, toB);
        assertEquals(1, mem(b).drain().size());
        assertEquals(0, mem(c).drain().size(), "flooding stops once learned");
        assertEquals(3, a.counters().rxPackets() + b.counters().rxPackets());
        assertEquals(2, b.counters().txPackets());
    }

    @Test
    void repliesAreSteeredToTheQueueTheFlowArrivedOn() {
        BridgePort a = port("a", VlanMembership.DEFAULT);
        BridgePort b = port("b", VlanMembership.DEFAULT);
        receive(b, 0, Frames.arp(B));
        for (int sport = 1000; sport < 1032; sport++) {
            receive(a, 1, Frames.udp4(B, A, 1, 2, sport, 53, 4));
            receive(b, 0, Frames.udp4(A, B, 2, 1, 53, sport, 4));
            for (MemoryPort.Sent s : mem(a).drain()) {
                assertEquals(1, s.queue(), "reply of flow " + sport + " must go back on queue 1");
            }
        }
    }

    @Test
    void dropsFramesToTheirOwnPortAndBadSources() {
        BridgePort a = port("a", VlanMembership.DEFAULT);
        BridgePort b = port("b", VlanMembership.DEFAULT);
        receive(a, 0, Frames.arp(A));
        mem(b).drain();
        receive(a, 0, Frames.udp4(A, C, 1, 2, 3, 4, 0));
        assertEquals(0, mem(b).drain().size());
        receive(a, 0, Frames.udp4(B, A | 0x0100_0000_0000L, 1, 2, 3, 4, 0), Frames.udp4(B, 0, 1, 2, 3, 4, 0), new byte[10]);
        assertEquals(1, a.counters().drops(DropReason.SAME_PORT));
        assertEquals(1, a.counters().drops(DropReason.MULTICAST_SOURCE));
        assertEquals(1, a.counters().drops(DropReason.ZERO_SOURCE));
        assertEquals(1, a.counters().drops(DropReason.RUNT));
        assertEquals(Fdb.NO_PORT, bridge.fdb().lookup(0, 0));
    }

    @Test
    void knownUnicastToADownPortIsDroppedNotFlooded() {
        BridgePort a = port("a", VlanMembership.DEFAULT);
        BridgePort b = port("b", VlanMembership.DEFAULT);
        BridgePort c = port("c", VlanMembership.DEFAULT);
        receive(b, 0, Frames.arp(B));
        mem(a).drain();
        mem(c).drain();
        mem(b).setLinkUp(false);
        receive(a, 0, Frames.udp4(B, A, 1, 2, 3, 4, 10));
        b.setAdminUp(false);
        mem(b).setLinkUp(true);
        receive(a, 0, Frames.udp4(B, A, 1, 2, 3, 4, 10));
        assertEquals(0, mem(c).drain().size(), "not flooded");
        assertEquals(0, mem(b).drain().size());
        assertEquals(2, a.counters().drops(DropReason.DESTINATION_UNAVAILABLE));
        assertEquals(0, a.counters().drops(DropReason.NO_OUTPUT));
    }

    @Test
    void knownUnicastToAPortThatNoLongerCarriesItsVlanIsDroppedNotFlooded() {
        BridgePort a = port("a", VlanMembership.access(10));
        BridgePort b = port("b", VlanMembership.access(10));
        BridgePort c = port("c", VlanMembership.access(10));
        receive(b, 0, Frames.arp(B));
        assertEquals(b.index(), bridge.fdb().lookup(10, B));
        mem(a).drain();
        mem(c).drain();
        b.setVlans(VlanMembership.access(20));
        receive(a, 0, Frames.udp4(B, A, 1, 2, 3, 4, 10));
        assertEquals(0, mem(c).drain().size(), "not flooded");
        assertEquals(0, mem(b).drain().size(), "not leaked into VLAN 20");
        assertEquals(1, a.counters().drops(DropReason.DESTINATION_UNAVAILABLE));
    }

    @Test
    void refusedReceivesAreCountedPerQueueButAreNotDrops() {
        BridgePort a = port("a", VlanMembership.DEFAULT);
        port("b", VlanMembership.DEFAULT);
        MemoryPort.MemoryQueue q = mem(a).queue(1);
        q.repeat(Frames.tcp4(B, A, 1, 2, 3, 4, 0, 4000)); // past the fragment size: large buffers only
        FrameBatch big = new FrameBatch(64);
        assertEquals(FragAllocator.DEFAULT_MAX_LARGE, q.receive(big), "the queue's large buffers ran out");
        new Ingress(bridge, a, 1, forwarder).process(big, now);
        assertEquals(1, a.counters().queue(1).rxNoBuffer());
        assertEquals(0, a.counters().queue(0).rxNoBuffer());
        assertEquals(1, a.counters().rxNoBuffer());
        assertEquals(0, a.counters().drops(DropReason.NO_BUFFER), "the refused frame was never received: not a drop");
        BridgePort b = bridge.find("b");
        assertEquals(8, a.counters().rxPackets());
        assertEquals(a.counters().rxPackets(), dropTotal(a) + b.counters().txPackets() + dropTotal(b),
                "every received frame sent or dropped, and nothing else");
    }

    private static long dropTotal(BridgePort p) {
        return p.counters().dropsByReason().values().stream().mapToLong(Long::longValue).sum();
    }

    @Test
    void accessPortsIsolateVlansAndTrunksTagByteExact() {
        BridgePort a10 = port("a10", VlanMembership.access(10));
        BridgePort b20 = port("b20", VlanMembership.access(20));
        BridgePort c10 = port("c10", VlanMembership.access(10));
        BridgePort trunk = port("trunk", VlanMembership.trunk(List.of(10, 20), 0));
        byte[] bcast = Frames.udp4(0xffff_ffff_ffffL, A, 1, 2, 3, 4, 20);
        receive(a10, 0, bcast);
        assertEquals(0, mem(b20).drain().size(), "VLAN 20 must not see VLAN 10");
        assertArrayEquals(bcast, mem(c10).drain().get(0).bytes());
        assertArrayEquals(Frames.tagged(bcast, 0x8100, 10), mem(trunk).drain().get(0).bytes());

        byte[] from20 = Frames.tagged(Frames.udp4(0xffff_ffff_ffffL, B, 1, 2, 3, 4, 20), 0x8100, 20);
        receive(trunk, 0, from20);
        assertArrayEquals(Frames.udp4(0xffff_ffff_ffffL, B, 1, 2, 3, 4, 20), mem(b20).drain().get(0).bytes(), "tag popped");
        assertEquals(0, mem(a10).drain().size());

        receive(trunk, 0, Frames.tagged(Frames.arp(C), 0x8100, 30), Frames.arp(C));
        assertEquals(2, trunk.counters().drops(DropReason.VLAN_NOT_ALLOWED));
        receive(a10, 0, Frames.tagged(Frames.arp(A), 0x8100, 10));
        assertEquals(1, a10.counters().drops(DropReason.VLAN_NOT_ALLOWED), "tagged frames dropped on access ports");
    }

    @Test
    void nativeVlanLeavesTrunkUntagged() {
        BridgePort a = port("a", VlanMembership.access(5));
        BridgePort trunk = port("t", VlanMembership.trunk(List.of(6), 5));
        byte[] arp = Frames.arp(A);
        receive(a, 0, arp);
        assertArrayEquals(arp, mem(trunk).drain().get(0).bytes());
        receive(trunk, 0, Frames.arp(B));
        assertArrayEquals(Frames.arp(B), mem(a).drain().get(0).bytes());
    }

    @Test
    void floodingWritesTheSameFrameWithPerPortTags() {
        BridgePort in = port("in", VlanMembership.trunk(List.of(7), 0));
        BridgePort t1 = port("t1", VlanMembership.trunk(List.of(7), 0));
        BridgePort acc = port("acc", VlanMembership.access(7));
        BridgePort t2 = port("t2", VlanMembership.trunk(List.of(7), 0));
        byte[] tagged = Frames.tagged(Frames.arp(A), 0x8100, 7);
        receive(in, 0, tagged);
        assertArrayEquals(tagged, mem(t1).drain().get(0).bytes());
        assertArrayEquals(Frames.arp(A), mem(acc).drain().get(0).bytes());
        assertArrayEquals(tagged, mem(t2).drain().get(0).bytes());
    }

    @Test
    void portFlagsLearningFloodingAndAdminState() {
        BridgePort a = port("a", VlanMembership.DEFAULT);
        BridgePort b = port("b", VlanMembership.DEFAULT);
        a.setLearning(false);
        receive(a, 0, Frames.arp(A));
        assertEquals(Fdb.NO_PORT, bridge.fdb().lookup(0, A));
        assertEquals(1, mem(b).drain().size());
        b.setFlooding(false);
        receive(a, 0, Frames.arp(A));
        assertEquals(0, mem(b).drain().size());
        assertEquals(1, a.counters().drops(DropReason.NO_OUTPUT), "a flood with nowhere to go is counted");
        b.setFlooding(true);
        b.setAdminUp(false);
        receive(a, 0, Frames.arp(A));
        assertEquals(0, mem(b).drain().size());
        receive(b, 0, Frames.arp(B));
        assertEquals(1, b.counters().drops(DropReason.PORT_DOWN));
        mem(b).setLinkUp(false);
        b.setAdminUp(true);
        receive(a, 0, Frames.arp(A));
        assertEquals(0, mem(b).drain().size(), "link down");
    }

    @Test
    void detachFlushesItsEntriesAndTransmitFailuresAreCounted() {
        BridgePort a = port("a", VlanMembership.DEFAULT);
        BridgePort b = port("b", VlanMembership.DEFAULT);
        receive(b, 0, Frames.arp(B));
        mem(b).queue(0).failTransmits(DropReason.TX_BUSY.ordinal());
        mem(b).queue(1).failTransmits(DropReason.TX_BUSY.ordinal());
        receive(a, 0, Frames.udp4(B, A, 1, 2, 3, 4, 0));
        assertEquals(1, b.counters().drops(DropReason.TX_BUSY));
        bridge.detach(b);
        assertEquals(Fdb.NO_PORT, bridge.fdb().lookup(0, B));
        assertEquals(1, bridge.ports().length);
        assertTrue(bridge.find("b") == null);
    }

    @Test
    void aFrameThatThrowsIsCountedAndTheBatchGoesOn() {
        BridgePort a = port("a", VlanMembership.DEFAULT);
        BridgePort b = port("b", VlanMembership.DEFAULT);
        a.setMirror((frame, received) -> {
            if (frame.length() == 60) {
                throw new IllegalStateException("mirror bug");
            }
        });
        Ingress ingress = new Ingress(bridge, a, 0, forwarder);
        mem(a).queue(0).inject(Frames.udp4(B, A, 1, 2, 3, 4, 18));
        mem(a).queue(0).inject(Frames.arp(A));
        mem(a).queue(0).receive(batch);
        ingress.process(batch, now);
        assertEquals(1, a.counters().drops(DropReason.INTERNAL_ERROR));
        assertEquals(1, mem(b).drain().size(), "the next frame of the batch still went through");
        assertEquals("mirror bug", ingress.takeFailure().getMessage());
        assertEquals(null, ingress.takeFailure());
        assertEquals(0, mem(a).queue(0).allocator().liveFrames(), "every frame released, the failed one too");
    }
}
