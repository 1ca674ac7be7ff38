package io.vswitch.core.flow;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.TimeUnit;

/**
 * Flow steering for one multi-queue port: remembers which queue a flow arrived on so replies can be
 * sent back on the same queue. The user-space mirror of drivers/net/tun.c's {@code tun_flow_entry}
 * table: {@value #BUCKETS} buckets keyed by the symmetric {@link FlowHash}, at most {@value
 * #MAX_ENTRIES} entries (here {@value #WAYS} per bucket), entries idle longer than the expiry (3 s by
 * default, as {@code TUN_FLOW_EXPIRE}) are ignored and reused.
 *
 * <p><b>Threads.</b> Every datapath thread may call {@link #record} and {@link #select} at once, with
 * no lock. Each slot's hash and queue are packed in one long written with release and read with
 * acquire semantics, so a reader never sees a hash paired with another flow's queue. The races
 * left are benign and are the same ones the kernel accepts for its RCU-read, lock-free updates:
 * <ul>
 *   <li>two threads inserting into the same free slot at once: the last write wins and the other
 *       flow is simply not remembered; its next frame records it again;
 *   <li>a reader seeing a slot just before or after its queue changed: one frame goes to the old
 *       queue, which is still a valid queue;
 *   <li>the last-used time is a separate plain-ish (opaque) long: a stale value can make an entry
 *       expire one refresh early or late.
 * </ul>
 * A select never returns a queue outside {@code [0, queueCount)}.
 */
public final class FlowTable {
    public static final int BUCKETS = 1024;
    public static final int WAYS = 4;
    public static final int MAX_ENTRIES = BUCKETS * WAYS;
    public static final long DEFAULT_EXPIRY_NANOS = TimeUnit.SECONDS.toNanos(3);
    /** Last-used times are refreshed at most this often, so a busy flow does not write its slot every frame. */
    private static final long REFRESH_NANOS = TimeUnit.MILLISECONDS.toNanos(1);

    private static final VarHandle LONGS = MethodHandles.arrayElementVarHandle(long[].class);

    private final long[] slots = new long[MAX_ENTRIES];
    private final long[] lastUsed = new long[MAX_ENTRIES];
    private volatile long expiryNanos;

    public FlowTable() {
        this(DEFAULT_EXPIRY_NANOS);
    }

    public FlowTable(long expiryNanos) {
        setExpiryNanos(expiryNanos);
    }

    public void setExpiryNanos(long expiryNanos) {
        if (expiryNanos <= 0) {
            throw new IllegalArgumentException("flow expiry must be positive");
        }
        this.expiryNanos = expiryNanos;
    }

    public long expiryNanos() {
        return expiryNanos;
    }

    /** Remembers that the flow with {@code hash} was received on {@code queue} at time {@code now}. */
    public void record(int hash, int queue, long now) {
        int base = (hash & (BUCKETS - 1)) * WAYS;
        long packed = pack(hash, queue);
        long expiry = expiryNanos;
        int victim = -1;
        long victimUsed = Long.MAX_VALUE;
        for (int i = base; i < base + WAYS; i++) {
            long slot = (long) LONGS.getAcquire(slots, i);
            long used = (long) LONGS.getOpaque(lastUsed, i);
            if (slot != 0 && (int) (slot >>> 32) == hash) {
                if (slot != packed) {
                    LONGS.setRelease(slots, i, packed);
                }
                if (now - used > REFRESH_NANOS) {
                    LONGS.setOpaque(lastUsed, i, now);
                }
                return;
            }
            long age = slot == 0 || now - used > expiry ? Long.MIN_VALUE : used;
            if (age < victimUsed) {
                victimUsed = age;
                victim = i;
            }
        }
        LONGS.setOpaque(lastUsed, victim, now);
        LONGS.setRelease(slots, victim, packed);
    }

    /**
     * The queue to send a frame of flow {@code hash} on: the one the flow was last received on if
     * that is recent and exists, else {@code hash mod queueCount}.
     */
    public int select(int hash, int queueCount, long now) {
        int base = (hash & (BUCKETS - 1)) * WAYS;
        for (int i = base; i < base + WAYS; i++) {
            long slot = (long) LONGS.getAcquire(slots, i);
            if (slot != 0 && (int) (slot >>> 32) == hash) {
                int queue = (int) slot - 1;
                if (queue < queueCount && now - (long) LONGS.getOpaque(lastUsed, i) <= expiryNanos) {
                    return queue;
                }
                break;
            }
        }
        return Integer.remainderUnsigned(hash, queueCount);
    }

    /** Forgets entries idle past the expiry (housekeeping; select already ignores them). */
    public void expire(long now) {
        long expiry = expiryNanos;
        for (int i = 0; i < MAX_ENTRIES; i++) {
            if ((long) LONGS.getAcquire(slots, i) != 0 && now - (long) LONGS.getOpaque(lastUsed, i) > expiry) {
                LONGS.setRelease(slots, i, 0L);
            }
        }
    }

    /** Forgets everything, e.g. when the port's queue count changes. */
    public void clear() {
        for (int i = 0; i < MAX_ENTRIES; i++) {
            LONGS.setRelease(slots, i, 0L);
        }
    }

    /** Visits live entries (cold path: the {@code flows} command). */
    public void forEach(long now, Visitor visitor) {
        long expiry = expiryNanos;
        for (int i = 0; i < MAX_ENTRIES; i++) {
            long slot = (long) LONGS.getAcquire(slots, i);
            long age = now - (long) LONGS.getOpaque(lastUsed, i);
            if (slot != 0 && age <= expiry) {
                visitor.entry((int) (slot >>> 32), (int) slot - 1, age);
            }
        }
    }

    /** Live entries right now. */
    public int size(long now) {
        int[] count = new int[1];
        forEach(now, (hash, queue, age) -> count[0]++);
        return count[0];
    }

    /** Receives entries from {@link #forEach}. */
    @FunctionalInterface
    public interface Visitor {
        void entry(int hash, int queue, long ageNanos);
    }

    private static long pack(int hash, int queue) {
        return ((long) hash << 32) | ((queue + 1) & 0xffffffffL);
    }
}
