package io.vswitch.metrics;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * How many frames one datapath thread handled per wake-up from {@code epoll_wait}: 0 (a wake-up for
 * nothing), 1, 2, up to 4, ... up to 256, more. Tells an operator whether a queue runs frame by frame
 * (wake-up cost dominates) or in full batches (it is saturated).
 *
 * <p>One writer, the owning datapath thread, with plain opaque stores into a fixed array: no
 * allocation, no atomic instruction, no fence per wake-up. Readers (the metrics scrape) read opaque
 * and may see a bucket and the sum from slightly different moments; the race is benign, as the
 * counts only grow and the next scrape is exact again.
 */
public final class WakeupHistogram {
    private static final VarHandle LONGS = MethodHandles.arrayElementVarHandle(long[].class);
    /** Inclusive upper bounds of the buckets, the last one unbounded. */
    static final double[] UPPER_BOUNDS = {0, 1, 2, 4, 8, 16, 32, 64, 128, 256, Double.POSITIVE_INFINITY};
    private static final int BUCKETS = UPPER_BOUNDS.length;
    private static final int SUM = BUCKETS;
    private static final int LAST_POWER = 8;

    private final long[] cells = new long[BUCKETS + 1];

    /** Counts one wake-up that handled {@code frames} frames; called by the owning thread only. */
    public void record(int frames) {
        int bucket = frames <= 0 ? 0 : Math.min(LAST_POWER + 2, 1 + (32 - Integer.numberOfLeadingZeros(frames - 1)));
        long[] c = cells;
        LONGS.setOpaque(c, bucket, (long) LONGS.getOpaque(c, bucket) + 1);
        LONGS.setOpaque(c, SUM, (long) LONGS.getOpaque(c, SUM) + Math.max(frames, 0));
    }

    /** Wake-ups per bucket (not cumulative), in the order of {@link #UPPER_BOUNDS}. */
    long[] counts() {
        long[] out = new long[BUCKETS];
        for (int i = 0; i < BUCKETS; i++) {
            out[i] = (long) LONGS.getOpaque(cells, i);
        }
        return out;
    }

    /** Frames over all wake-ups. */
    long frames() {
        return (long) LONGS.getOpaque(cells, SUM);
    }
}
