package io.vswitch.core.port;

import io.vswitch.core.frame.DropReason;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * Counters of one port queue. Receive counters have one writer (the queue's datapath thread) and
 * are bumped with plain opaque stores; transmit and drop counters may be bumped by any datapath
 * thread and use atomic adds. Readers (stats, metrics) only read, never lock. Receive and transmit
 * cells sit on different cache lines so the two sides do not false-share.
 */
public final class QueueCounters {
    private static final VarHandle LONGS = MethodHandles.arrayElementVarHandle(long[].class);
    private static final int RX_PACKETS = 0;
    private static final int RX_BYTES = 1;
    private static final int RX_GSO = 2;
    private static final int RX_NO_BUFFER = 3;
    private static final int TX_PACKETS = 8;
    private static final int TX_BYTES = 9;
    private static final int TX_SEGMENTED = 10;
    private static final int DROPS = 16;

    private final long[] cells = new long[DROPS + DropReason.count() + 8];

    /** Counts a received frame; called only by the queue's own datapath thread. */
    public void received(int bytes, boolean gso) {
        long[] c = cells;
        LONGS.setOpaque(c, RX_PACKETS, (long) LONGS.getOpaque(c, RX_PACKETS) + 1);
        LONGS.setOpaque(c, RX_BYTES, (long) LONGS.getOpaque(c, RX_BYTES) + bytes);
        if (gso) {
            LONGS.setOpaque(c, RX_GSO, (long) LONGS.getOpaque(c, RX_GSO) + 1);
        }
    }

    /**
     * Counts a receive the queue's allocator refused at its memory cap: the frame was left in the
     * kernel's queue (read later, or dropped there), so it is not a drop of ours. Called only by the
     * queue's own datapath thread.
     */
    public void refusedBuffer() {
        LONGS.setOpaque(cells, RX_NO_BUFFER, (long) LONGS.getOpaque(cells, RX_NO_BUFFER) + 1);
    }

    public void transmitted(int bytes) {
        LONGS.getAndAdd(cells, TX_PACKETS, 1L);
        LONGS.getAndAdd(cells, TX_BYTES, (long) bytes);
    }

    /** Counts a GSO super-frame that had to be cut into segments in software for this queue. */
    public void segmented() {
        LONGS.getAndAdd(cells, TX_SEGMENTED, 1L);
    }

    public void dropped(int reason) {
        LONGS.getAndAdd(cells, DROPS + reason, 1L);
    }

    public long rxPackets() {
        return read(RX_PACKETS);
    }

    public long rxBytes() {
        return read(RX_BYTES);
    }

    /** Received GSO super-frames (TSO/USO from a TAP). */
    public long rxGso() {
        return read(RX_GSO);
    }

    /** Receives refused for lack of buffer (see {@link #refusedBuffer()}). */
    public long rxNoBuffer() {
        return read(RX_NO_BUFFER);
    }

    public long txPackets() {
        return read(TX_PACKETS);
    }

    public long txBytes() {
        return read(TX_BYTES);
    }

    public long txSegmented() {
        return read(TX_SEGMENTED);
    }

    public long drops(DropReason reason) {
        return read(DROPS + reason.ordinal());
    }

    public long dropsTotal() {
        long sum = 0;
        for (int i = 0; i < DropReason.count(); i++) {
            sum += read(DROPS + i);
        }
        return sum;
    }

    private long read(int cell) {
        return (long) LONGS.getOpaque(cells, cell);
    }
}
