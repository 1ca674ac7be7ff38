package io.vswitch.vm.vhost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.frame.FrameLeaks;
import io.vswitch.core.frame.VnetHeader;
import io.vswitch.core.port.BatchSink;
import io.vswitch.core.port.FrameSink;
import io.vswitch.core.port.PortQueue;
import io.vswitch.linux.Allocations;
import io.vswitch.linux.DirectAddress;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The vhost-user data path allocates nothing on the Java heap in steady state: taking frames from the
 * guest's TX ring (walk, allocate from the queue's fragments, copy, publish used, signal) and writing
 * frames into its RX ring (walk, copy, num_buffers, publish, signal), measured with the thread's
 * allocation counter over many frames after warm-up, as {@code VmAllocationTest} does for the socket ports.
 */
class VhostAllocationTest {
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    private static final int FRAMES = 20_000;
    private static final int BATCH = 8;

    @Test
    void receiveAndTransmitDoNotAllocate() throws Exception {
        Path dir = Files.createTempDirectory("vswvhalloc-");
        try (VhostUserPort port = VhostUserPort.open("alloc", dir.resolve("a.sock"), VhostUserPort.Mode.SERVER, 1, null, null);
             FakeGuest guest = new FakeGuest(port.socketPath(), 1)) {
            guest.start(FakeGuest.FEATURES);
            VhostUserPortTest.until(port::linkUp, "the link");
            PortQueue q = port.queue(0);
            FrameBatch batch = new FrameBatch(FrameBatch.DEFAULT_CAPACITY);
            byte[] header = new byte[VnetHeader.SIZE];
            byte[] payload = VhostUserPortTest.frame(1000, 1);
            Frame out = new Frame();
            new FragAllocator(DirectAddress.INSTANCE).allocate(out, 1400);
            out.write(VhostUserPortTest.frame(1400, 2), 0, 1400);
            out.setOffload(0, 0, 0, 0, 0, 0);
            guest.offerRxBuffers(0, FakeGuest.RING, FakeGuest.BUFFER);
            long[] counts = new long[2];
            Runnable step = () -> {
                guest.transmit(1, header, payload);
                int n = q.receive(batch);
                for (int i = 0; i < n; i++) {
                    batch.get(i).release();
                }
                batch.clear();
                counts[0] += n;
                if (q.transmit(out) == FrameSink.SENT) {
                    counts[1]++;
                }
                guest.recycleRx(0);
            };
            long allocated = 0;
            try (AutoCloseable paused = FrameLeaks.pause()) { // recording frame-leak sites allocates
                for (int pass = 0; pass < 3; pass++) {
                    long before = THREADS.getCurrentThreadAllocatedBytes();
                    for (int i = 0; i < FRAMES; i++) {
                        step.run();
                    }
                    allocated = THREADS.getCurrentThreadAllocatedBytes() - before;
                    System.out.printf("pass %d: %d bytes for %d frames each way%n", pass, allocated, FRAMES);
                }
            } finally {
                out.release();
            }
            assertEquals(3L * FRAMES, counts[0], "every guest frame was received");
            assertEquals(3L * FRAMES, counts[1], "every frame reached the guest");
            assertTrue(allocated < FRAMES / 10, "the data path allocated " + allocated + " bytes for " + FRAMES + " frames each way");
        } finally {
            deleteDirectory(dir);
        }
    }

    /** The batch path: {@code transmit(Frame[], int, int[])} of a mix of frame lengths, one publish per batch. */
    @Test
    void batchTransmitDoesNotAllocate() throws Exception {
        Path dir = Files.createTempDirectory("vswvhalloc-");
        Frame[] frames = new Frame[BATCH];
        try (VhostUserPort port = VhostUserPort.open("allocb", dir.resolve("b.sock"), VhostUserPort.Mode.SERVER, 1, null, null);
             FakeGuest guest = new FakeGuest(port.socketPath(), 1)) {
            guest.start(FakeGuest.FEATURES);
            VhostUserPortTest.until(port::linkUp, "the link");
            BatchSink q = (BatchSink) port.queue(0);
            FragAllocator allocator = new FragAllocator(DirectAddress.INSTANCE);
            for (int i = 0; i < BATCH; i++) {
                int length = 60 + 180 * i;
                frames[i] = new Frame();
                allocator.allocate(frames[i], length);
                frames[i].write(VhostUserPortTest.frame(length, i), 0, length);
                frames[i].setOffload(0, 0, 0, 0, 0, 0);
            }
            int[] results = new int[BATCH];
            guest.offerRxBuffers(0, FakeGuest.RING, FakeGuest.BUFFER);
            long[] sent = new long[1];
            Runnable step = () -> {
                q.transmit(frames, BATCH, results);
                for (int r : results) {
                    if (r == FrameSink.SENT) {
                        sent[0]++;
                    }
                }
                guest.recycleRx(0);
            };
            long allocated = Allocations.bytesForFrames(step, FRAMES, sent);
            assertEquals(0, port.count(VhostEvent.RX_RING_FULL), "the guest always had room");
            assertTrue(allocated < FRAMES / 10, "the batch path allocated " + allocated + " bytes for " + FRAMES + " frames");
        } finally {
            for (Frame f : frames) {
                if (f != null) {
                    f.release();
                }
            }
            deleteDirectory(dir);
        }
    }

    private static void deleteDirectory(Path dir) throws IOException {
        try (var files = Files.list(dir)) {
            for (Path p : files.toList()) {
                Files.deleteIfExists(p);
            }
        }
        Files.deleteIfExists(dir);
    }
}
