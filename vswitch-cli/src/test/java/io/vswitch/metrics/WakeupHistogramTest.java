package io.vswitch.metrics;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.Test;

class WakeupHistogramTest {
    @Test
    void eachWakeupLandsInTheSmallestBucketThatHoldsIt() {
        WakeupHistogram h = new WakeupHistogram();
        for (int frames : new int[] {0, 1, 2, 3, 4, 5, 8, 9, 64, 65, 256, 257, 100_000}) {
            h.record(frames);
        }
        // bounds:             0  1  2  4  8 16 32 64 128 256 +Inf
        assertArrayEquals(new long[] {1, 1, 1, 2, 2, 1, 0, 1, 1, 1, 2}, h.counts());
        assertEquals(0 + 1 + 2 + 3 + 4 + 5 + 8 + 9 + 64 + 65 + 256 + 257 + 100_000, h.frames());
    }

    @Test
    void recordingAllocatesNothing() {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        WakeupHistogram h = new WakeupHistogram();
        for (int i = 0; i < 200_000; i++) {
            h.record(i & 511); // warm up: compiled, as on a running datapath thread
        }
        long thread = Thread.currentThread().getId();
        long before = threads.getThreadAllocatedBytes(thread);
        for (int i = 0; i < 1_000_000; i++) {
            h.record(i & 511);
        }
        long allocated = threads.getThreadAllocatedBytes(thread) - before;
        assertTrue(allocated < 1024, "a million wake-ups allocated " + allocated + " bytes");
    }
}
