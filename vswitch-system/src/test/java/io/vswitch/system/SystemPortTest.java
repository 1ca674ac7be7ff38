package io.vswitch.system;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.alloc.NativeAddress;
import io.vswitch.core.bridge.Bridge;
import io.vswitch.core.bridge.BridgePort;
import io.vswitch.core.bridge.Forwarder;
import io.vswitch.core.bridge.Ingress;
import io.vswitch.core.frame.DropReason;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.frame.VnetHeader;
import io.vswitch.core.gso.Segmenter;
import io.vswitch.core.port.FrameSink;
import io.vswitch.core.port.Offloads;
import io.vswitch.core.port.QueueCounters;
import io.vswitch.core.testing.Frames;
import io.vswitch.core.testing.MemoryPort;
import io.vswitch.core.vlan.VlanMembership;
import io.vswitch.linux.Allocations;
import io.vswitch.linux.DirectAddress;
import io.vswitch.linux.IpCommand;
import io.vswitch.linux.LibC;
import io.vswitch.linux.NativeBuffer;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A system port on one end of a real veth pair, with a raw packet socket on the other end standing in
 * for the wire. Needs root (skipped otherwise; the integration tests are where it is required).
 */
class SystemPortTest {
    private static final LibC LIBC = LibC.INSTANCE;
    private static final int FRAMES = 20_000;
    private static final int VID = 10;
    private static final long WIRE_MAC = Frames.mac("02:00:5e:20:28:02");
    private static final long MEMORY_MAC = Frames.mac("02:00:5e:20:28:01");

    private VethPair veth;
    private String portSide;
    private String wireSide;

    @BeforeEach
    void veth() throws IOException {
        veth = VethPair.create(1500);
        portSide = veth.portSide;
        wireSide = veth.wireSide;
    }

    @AfterEach
    void removeVeth() {
        if (veth != null) {
            veth.close();
        }
    }

    /** A frame 02:..:01 <- 02:..:02 tagged VID 10, EtherType 0x88b5 (local experimental), payload i. */
    static byte[] taggedFrame(int payload) {
        byte[] f = new byte[18 + payload];
        byte[] macs = {2, 0, 0x5e, 0x20, 0, 1, 2, 0, 0x5e, 0x20, 0, 2};
        System.arraycopy(macs, 0, f, 0, 12);
        f[12] = (byte) 0x81;
        f[14] = 0;
        f[15] = VID;
        f[16] = (byte) 0x88;
        f[17] = (byte) 0xb5;
        for (int i = 18; i < f.length; i++) {
            f[i] = (byte) i;
        }
        return f;
    }

    private int wireSocket() throws IOException {
        return veth.wireSocket();
    }

    static int receiveSome(SystemQueue q, FrameBatch batch) {
        long deadline = System.nanoTime() + 5_000_000_000L;
        int n;
        while ((n = q.receive(batch)) == 0) {
            assertTrue(System.nanoTime() < deadline, "nothing received");
            Thread.onSpinWait();
        }
        return n;
    }

    @Test
    void receivedFramesKeepTheirVlanTagAndBytes() throws IOException {
        try (SystemPort port = SystemPort.open(portSide, 1); NativeBuffer out = new NativeBuffer(2048)) {
            int wire = wireSocket();
            try {
                byte[] sent = taggedFrame(100);
                out.put(0, sent, 0, sent.length);
                assertEquals(sent.length, LIBC.write(wire, out.address(), sent.length));
                FrameBatch batch = new FrameBatch(4);
                assertEquals(1, receiveSome(port.queue(0), batch));
                Frame got = batch.get(0);
                assertArrayEquals(sent, got.toBytes(), "the kernel moved the tag out; the port puts it back");
                assertFalse(got.isGso());
                got.release();
            } finally {
                LIBC.close(wire);
            }
        }
    }

    @Test
    void linkStateFollowsTheInterfaceAndItsDeletion() throws Exception {
        try (SystemPort port = SystemPort.open(portSide, 1)) {
            // The veth was set up just before: the kernel's linkwatch reports its carrier a little later.
            awaitLink(port, true);
            assertEquals(1500 + 18, port.maxFrameLength());
            IpCommand.run(null, "link", "set", "dev", wireSide, "down");
            awaitLink(port, false);
            assertFalse(port.gone(), "no carrier is down, not gone");
            IpCommand.run(null, "link", "set", "dev", wireSide, "up");
            awaitLink(port, true);
            IpCommand.run(null, "link", "del", "dev", portSide);
            awaitLink(port, false);
            assertTrue(port.gone());
            assertEquals(-1, port.queue(0).receive(new FrameBatch(4)), "a queue of a deleted interface ends its thread");
        }
    }

    private static void awaitLink(SystemPort port, boolean up) throws InterruptedException {
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (port.linkUp() != up) {
            assertTrue(System.nanoTime() < deadline, "link never became " + (up ? "up" : "down"));
            Thread.sleep(20);
        }
    }

    @Test
    void missingInterfaceIsNamedWithTheFix() {
        IOException e = assertThrows(IOException.class, () -> SystemPort.open("vssnone0", 1));
        assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
    }

    @Test
    void receiveAndTransmitDoNotAllocate() throws Exception {
        try (SystemPort port = SystemPort.open(portSide, 1)) {
            SystemQueue q = port.queue(0);
            int wire = wireSocket();
            try {
                long allocated = FloodAllocations.whileReceiving(q, wire, taggedFrame(600), FRAMES);
                assertTrue(allocated < FRAMES / 10, "receive allocated " + allocated + " bytes for " + FRAMES + " frames");
            } finally {
                LIBC.close(wire);
            }

            FragAllocator allocator = new FragAllocator(DirectAddress.INSTANCE);
            Frame frame = new Frame();
            assertTrue(allocator.allocate(frame, 1000));
            frame.write(taggedFrame(1000 - 18), 0, 1000);
            long[] sent = new long[1];
            Runnable transmit = () -> {
                if (q.transmit(frame) == FrameSink.SENT) {
                    sent[0]++;
                }
            };
            long txAllocated = Allocations.bytesForFrames(transmit, FRAMES, sent);
            frame.release();
            assertTrue(txAllocated < FRAMES / 10, "transmit allocated " + txAllocated + " bytes for " + FRAMES + " frames");
        }
    }

    /**
     * Known unicast from another port reaches the system port through the bridge's deferred transmit:
     * one {@code sendmmsg} per receive batch, counted per frame, with no heap allocation per frame.
     */
    @Test
    void bridgedBatchesAreCountedAndDoNotAllocate() throws Exception {
        try (SystemPort port = SystemPort.open(portSide, 1)) {
            Bridge bridge = new Bridge();
            Forwarder forwarder = new Forwarder(bridge, new Segmenter(NativeAddress.NONE));
            MemoryPort memory = new MemoryPort("mem", 1, Offloads.NONE, false, 0, DirectAddress.INSTANCE);
            BridgePort in = bridge.attach(memory, VlanMembership.DEFAULT);
            BridgePort out = bridge.attach(port, VlanMembership.DEFAULT);
            bridge.fdb().learn(0, WIRE_MAC, out.index(), 0);
            memory.queue(0).repeat(Frames.udp4(WIRE_MAC, MEMORY_MAC, 0xc6122801, 0xc6122802, 1000, 2000, 60));
            Ingress ingress = new Ingress(bridge, in, 0, forwarder);
            FrameBatch batch = new FrameBatch(FrameBatch.DEFAULT_CAPACITY);
            QueueCounters counters = out.counters().queue(0);
            long[] forwarded = new long[1];
            Runnable step = () -> {
                memory.queue(0).receive(batch);
                ingress.process(batch, 0);
                forwarded[0] = counters.txPackets() + counters.dropsTotal();
            };
            long allocated = Allocations.bytesForFrames(step, FRAMES, forwarded);
            assertTrue(allocated < FRAMES / 10, "bridged batches allocated " + allocated + " bytes for " + FRAMES + " frames");
            assertTrue(counters.txPackets() > 0, "nothing went out");
            assertEquals(in.counters().queue(0).rxPackets(), counters.txPackets() + counters.dropsTotal(),
                    "every frame counted once, sent or dropped");
            assertEquals(counters.dropsTotal(), counters.drops(DropReason.TX_BUSY), "only a full veth backlog drops");
            assertEquals(null, ingress.takeFailure());
        }
    }

    /**
     * One batch with a TSO super-frame and a frame over the MTU in the middle: the kernel takes the
     * frames before the oversize one, refuses it (EMSGSIZE, counted as OVERSIZE) and the rest follow;
     * on the wire every other frame arrives whole and in order.
     */
    @Test
    void aBatchArrivesWholeAndInOrderAroundARefusedFrame() throws Exception {
        try (SystemPort port = SystemPort.open(portSide, 1)) {
            SystemQueue q = port.queue(0);
            FragAllocator allocator = new FragAllocator(DirectAddress.INSTANCE);
            List<byte[]> expected = new ArrayList<>();
            Frame[] frames = new Frame[12];
            int oversize = 6;
            int superFrame = 3;
            for (int i = 0; i < frames.length; i++) {
                byte[] bytes = i == superFrame
                        ? Frames.tcp4(WIRE_MAC, MEMORY_MAC, 0xc6122801, 0xc6122802, 40000, 5201, 1, 4000)
                        : Frames.udp4(WIRE_MAC, MEMORY_MAC, 0xc6122801, 0xc6122802, 1000 + i, 2000, i == oversize ? 1600 : 60 + i);
                frames[i] = new Frame();
                assertTrue(allocator.allocate(frames[i], bytes.length));
                frames[i].write(bytes, 0, bytes.length);
                if (i == superFrame) {
                    frames[i].setOffload(VnetHeader.FLAG_NEEDS_CSUM, VnetHeader.GSO_TCPV4, 54, 1448, 34, 16);
                }
                if (i != oversize) {
                    expected.add(bytes);
                }
            }
            int wire = veth.wireListener();
            try {
                int[] results = new int[frames.length];
                q.transmit(frames, frames.length, results);
                for (int i = 0; i < frames.length; i++) {
                    assertEquals(i == oversize ? DropReason.OVERSIZE.ordinal() : FrameSink.SENT, results[i], "frame " + i);
                }
                try (NativeBuffer in = new NativeBuffer(65536)) {
                    for (int i = 0; i < expected.size(); i++) {
                        byte[] got = receiveOnWire(wire, in, i);
                        assertArrayEquals(expected.get(i), got, "wire frame " + i);
                    }
                }
            } finally {
                LIBC.close(wire);
                for (Frame f : frames) {
                    f.release();
                }
            }
        }
    }

    /** The next frame on the wire socket (non-blocking reads until 5 s passed). */
    private static byte[] receiveOnWire(int wire, NativeBuffer in, int index) {
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (true) {
            long n = LIBC.recv(wire, in.address(), 65536, LibC.MSG_DONTWAIT);
            if (n > 0) {
                byte[] got = new byte[(int) n];
                in.get(0, got, 0, got.length);
                return got;
            }
            assertTrue(System.nanoTime() < deadline, "wire frame " + index + " missing");
            Thread.onSpinWait();
        }
    }
}
