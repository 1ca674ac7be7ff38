package io.vswitch.core.bridge;

import static io.vswitch.core.testing.Frames.mac;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.core.alloc.NativeAddress;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.frame.FrameLeaks;
import io.vswitch.core.frame.VnetHeader;
import io.vswitch.core.gso.Segmenter;
import io.vswitch.core.port.Offloads;
import io.vswitch.core.testing.Frames;
import io.vswitch.core.testing.MemoryPort;
import io.vswitch.core.vlan.VlanMembership;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.Test;

/**
 * After 10^7 frames through the bridge (known unicast, floods, TSO super-frames segmented for a port
 * without offloads) every frame is released, no allocator holds more chunks than after warm-up and
 * the JVM's direct memory is no larger than after warm-up.
 */
class SteadyStateMemoryTest {
    private static final long A = mac("02:00:00:00:00:0a");
    private static final long B = mac("02:00:00:00:00:0b");
    private static final long C = mac("02:00:00:00:00:0c");
    private static final long FRAMES = 10_000_000;

    private final Bridge bridge = new Bridge();
    private final Forwarder forwarder = new Forwarder(bridge, new Segmenter(NativeAddress.NONE));
    private final FrameBatch batch = new FrameBatch(FrameBatch.DEFAULT_CAPACITY);
    private final BridgePort a = bridge.attach(new MemoryPort("a", 2, Offloads.CSUM | Offloads.TSO4, false), VlanMembership.DEFAULT);
    private final BridgePort b = bridge.attach(new MemoryPort("b", 2, Offloads.CSUM | Offloads.TSO4, false, 64), VlanMembership.DEFAULT);
    private final BridgePort c = bridge.attach(new MemoryPort("c", 1, Offloads.NONE, false), VlanMembership.DEFAULT);
    private final Ingress[] ingress = {
        new Ingress(bridge, a, 0, forwarder), new Ingress(bridge, a, 1, forwarder), new Ingress(bridge, b, 0, forwarder),
    };

    private final byte[] aToB = Frames.udp4(B, A, 0xc6120001, 0xc6120002, 1000, 2000, 60);
    private final byte[] bBroadcast = Frames.arp(B);
    private final byte[] aToCSuperFrame = Frames.tcp4(C, A, 0xc6120001, 0xc6120003, 1000, 5201, 1, 4000);
    private long received;

    @Test
    void tenMillionFramesLeaveChunksAndDirectMemoryAtBaseline() throws Exception {
        // Learn C on port c, then warm up until every allocator has the chunks the pattern needs.
        ((MemoryPort) c.port()).queue(0).inject(Frames.arp(C));
        ((MemoryPort) c.port()).queue(0).receive(batch);
        new Ingress(bridge, c, 0, forwarder).process(batch, 0);
        BufferPoolMXBean direct = directPool();
        try (AutoCloseable paused = FrameLeaks.pause()) { // recording 10^7 allocation sites would take minutes
            run(200_000);
            int chunksAtBaseline = chunks();
            System.gc();
            long directAtBaseline = direct.getMemoryUsed();
            received = 0;
            run(FRAMES);
            assertTrue(received >= FRAMES, "received " + received);
            assertEquals(0, liveFrames(), "frames still attached");
            assertEquals(chunksAtBaseline, chunks(), "chunks and large buffers held by the queue allocators");
            long directAfter = direct.getMemoryUsed();
            assertTrue(directAfter <= directAtBaseline,
                    "direct memory grew from " + directAtBaseline + " to " + directAfter + " bytes");
        }
        assertTrue(((MemoryPort) c.port()).queue(0).transmitted() > 0, "segments reached the port without offloads");
    }

    private void run(long frames) {
        long round = 0;
        while (received < frames) {
            int kind = (int) (round++ & 63);
            if (kind == 63) {
                receive(a, 1, ingress[1], aToCSuperFrame, true);
            } else if ((kind & 1) == 0) {
                receive(a, 0, ingress[0], aToB, false);
            } else {
                receive(b, 0, ingress[2], bBroadcast, false);
            }
        }
    }

    private void receive(BridgePort port, int queue, Ingress in, byte[] frame, boolean tso) {
        MemoryPort.MemoryQueue q = ((MemoryPort) port.port()).queue(queue);
        q.repeat(frame);
        int n = q.receive(batch);
        if (tso) {
            for (int i = 0; i < n; i++) {
                Frame f = batch.get(i);
                f.setOffload(VnetHeader.FLAG_NEEDS_CSUM, VnetHeader.GSO_TCPV4, 54, 1448, 34, 16);
            }
        }
        in.process(batch, received);
        received += n;
    }

    private int chunks() {
        int sum = 0;
        for (BridgePort p : bridge.ports()) {
            for (int i = 0; i < p.port().queueCount(); i++) {
                sum += p.port().queue(i).allocator().chunkCount() + p.port().queue(i).allocator().largeCount();
            }
        }
        return sum;
    }

    private int liveFrames() {
        int sum = 0;
        for (BridgePort p : bridge.ports()) {
            for (int i = 0; i < p.port().queueCount(); i++) {
                sum += p.port().queue(i).allocator().liveFrames();
            }
        }
        return sum;
    }

    private static BufferPoolMXBean directPool() {
        for (BufferPoolMXBean pool : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
            if (pool.getName().equals("direct")) {
                return pool;
            }
        }
        throw new AssertionError("no direct buffer pool MXBean");
    }
}
