package io.vswitch.linux;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.core.frame.FrameLeaks;
import java.lang.management.ManagementFactory;

/** Measures heap allocation of a repeated call on the current thread. */
public final class Allocations {

    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    /** One call of the code under test; its result must not be negative and is summed so the JIT keeps it. */
    @FunctionalInterface
    interface Call {
        long run() throws Exception;
    }

    private Allocations() {
    }

    /**
     * Runs {@code step} until {@code count[0]} advanced by {@code frames}, three times; returns the
     * last pass's bytes (the earlier passes warm the JIT up). Frame-leak recording (which allocates) is
     * paused meanwhile. For the ports' frame paths, where one step moves a batch of frames.
     */
    public static long bytesForFrames(Runnable step, int frames, long[] count) throws Exception {
        try (AutoCloseable paused = FrameLeaks.pause()) {
            long allocated = 0;
            for (int pass = 0; pass < 3; pass++) {
                long target = count[0] + frames;
                long before = allocatedBytes();
                long deadline = System.nanoTime() + 20_000_000_000L;
                while (count[0] < target) {
                    step.run();
                    if (System.nanoTime() > deadline) {
                        throw new AssertionError("no progress: " + count[0] + " of " + target);
                    }
                }
                allocated = allocatedBytes() - before;
                System.out.printf("pass %d: %d bytes for %d frames%n", pass, allocated, frames);
            }
            return allocated;
        }
    }

    static long allocatedBytes() {
        return THREADS.getCurrentThreadAllocatedBytes();
    }

    /**
     * Runs {@code call} {@code calls} times measured, after two warm-up passes; asserts < 0.1 byte per
     * call. Two passes because the first re-entry of the loop after its OSR compilation allocates a few
     * hundred bytes once (a JIT transition, seen with any call; under -Xint every pass measures 0).
     */
    static void assertNoAllocation(String what, int calls, Call call) throws Exception {
        long sink = repeat(what, calls, call) + repeat(what, calls, call);
        long before = allocatedBytes();
        sink += repeat(what, calls, call);
        long allocated = allocatedBytes() - before;
        System.out.printf("%s: %d bytes allocated over %d calls (checksum %d)%n", what, allocated, calls, sink);
        assertTrue(allocated < calls / 10, what + " allocated " + allocated + " bytes in " + calls + " calls");
    }

    private static long repeat(String what, int calls, Call call) throws Exception {
        long sink = 0;
        for (int i = 0; i < calls; i++) {
            long result = call.run();
            if (result < 0) {
                throw new AssertionError(what + " failed, errno " + LibC.errno());
            }
            sink += result;
        }
        return sink;
    }
}
