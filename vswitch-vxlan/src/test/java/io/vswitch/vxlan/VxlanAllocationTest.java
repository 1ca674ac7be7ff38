package io.vswitch.vxlan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.port.FrameSink;
import io.vswitch.linux.Allocations;
import org.junit.jupiter.api.Test;

/**
 * The VXLAN data path allocates nothing on the Java heap in steady state: encapsulation and the
 * {@code sendmmsg} (unicast to a learned VTEP and head-end flooding), then {@code recvmmsg},
 * validation, VNI demultiplexing and learning on the other port, measured with the thread's
 * allocation counter over many frames after warm-up (the way {@code VmAllocationTest} does).
 */
class VxlanAllocationTest {
    private static final int FRAMES = 20_000;
    private static final long MAC_A = 0x02_00_00_00_0a_01L;
    private static final long MAC_B = 0x02_00_00_00_0b_01L;

    @Test
    void encapsulateSendReceiveAndLearnAllocateNothing() throws Exception {
        try (LoopbackPair pair = new LoopbackPair(99)) {
            FragAllocator allocator = LoopbackPair.allocator();
            Frame flood = LoopbackPair.frame(allocator, 0xffff_ffff_ffffL, MAC_A, 600);
            Frame unicast = LoopbackPair.frame(allocator, MAC_B, MAC_A, 600);
            pair.a.macs().learn(0, MAC_B, 0, System.nanoTime()); // B's MAC is behind A's only remote
            FrameBatch batch = new FrameBatch(FrameBatch.DEFAULT_CAPACITY);
            long[] done = new long[1];
            Runnable roundTrip = () -> {
                int sent = 0;
                for (int i = 0; i < 16; i++) {
                    if (pair.a.queue(0).transmit((i & 1) == 0 ? flood : unicast) == FrameSink.SENT) {
                        sent++;
                    }
                }
                done[0] += LoopbackPair.drain(pair.b, batch, sent);
            };
            long allocated = Allocations.bytesForFrames(roundTrip, FRAMES, done);
            assertTrue(allocated < FRAMES / 10, "allocated " + allocated + " bytes for " + FRAMES + " frames");
            assertEquals(LoopbackPair.A, pair.b.remoteOf(MAC_A), "B learned A's MAC with its VTEP");
            flood.release();
            unicast.release();
        }
    }
}
