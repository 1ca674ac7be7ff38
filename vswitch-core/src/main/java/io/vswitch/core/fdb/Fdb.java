package io.vswitch.core.fdb;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.security.SecureRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * The learning table (the kernel bridge's {@code br_fdb.c}): which port a MAC address was last seen
 * on, per VLAN. Keys are {@code (vlan << 48) | mac} in a primitive open-addressing table with linear
 * probing, sized to twice the global limit, so lookups never allocate and rarely probe far.
 *
 * <p><b>Threads.</b> {@link #lookup} and the refresh of an existing entry in {@link #learn} take no
 * lock and may run on every datapath thread at once. Creating, moving and deleting entries take one
 * lock ({@code writeLock}), as {@code br_fdb_update} takes {@code hash_lock} only to create. A slot
 * freed by a delete is reused by the next insert at once, so a reader could find a key and then read
 * the port of the different address that took its slot meanwhile. Each slot therefore keeps its port
 * together with a sequence number in one long (a per-slot seqlock): a writer that gives a slot to a
 * new key makes the sequence odd, writes key and port, and makes it even again; a reader takes the
 * port only if the sequence was even and unchanged across its reads of key and port, and otherwise
 * reads the slot again. Benign races left, as in the kernel's RCU lookups: a reader racing a move or
 * delete may forward one frame to the address's old port (where it really was); a refresh racing the
 * ageing sweep may be lost, and the address is learned again by its next frame.
 *
 * <p><b>Hash.</b> Slots are chosen by a keyed mix of the key with a random secret drawn per table
 * (the kernel bridge's {@code fdb_salt}), so a guest cannot pick source addresses that all land in
 * one probe run and make every lookup scan thousands of slots.
 *
 * <p><b>Limits.</b> At most {@code maxEntries} learned entries in all and {@code maxPerPort} per
 * port (defaults {@value #DEFAULT_MAX_ENTRIES} and {@value #DEFAULT_MAX_PER_PORT}); past them new
 * addresses are not learned and the refusal is counted. Static entries never age, never move and do
 * not count against the limits. Ageing default: {@value #DEFAULT_AGEING_SECONDS} s, as the kernel
 * bridge.
 */
public final class Fdb {
    public static final int NO_PORT = -1;
    public static final int DEFAULT_MAX_ENTRIES = 65536;
    public static final int DEFAULT_MAX_PER_PORT = 8192;
    public static final int DEFAULT_AGEING_SECONDS = 300;

    /** {@link #learn} results. */
    public static final int REFRESHED = 0;
    public static final int LEARNED = 1;
    public static final int MOVED = 2;
    public static final int REFUSED = 3;
    public static final int STATIC_KEPT = 4;

    private static final long EMPTY = 0L;
    private static final long TOMBSTONE = -1L;
    private static final int STATIC_BIT = 1 << 31;
    /** Low half of a slot's port word: the port, with {@link #STATIC_BIT}; high half: the slot's sequence. */
    private static final long PORT_MASK = 0xffff_ffffL;
    private static final long SEQ_ONE = 1L << 32;
    private static final long REFRESH_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    private static final VarHandle LONGS = MethodHandles.arrayElementVarHandle(long[].class);

    private final long salt;
    private volatile int maxEntries;
    private volatile int maxPerPort;
    private final int[] perPort;
    private final Object writeLock = new Object();
    private volatile Table table;
    private volatile long ageingNanos = TimeUnit.SECONDS.toNanos(DEFAULT_AGEING_SECONDS);
    private int learnedCount;
    private int staticCount;
    private int tombstones;

    private final LongAdder learnedTotal = new LongAdder();
    private final LongAdder moves = new LongAdder();
    private final LongAdder refusedGlobal = new LongAdder();
    private final LongAdder refusedPort = new LongAdder();
    private final LongAdder aged = new LongAdder();

    public Fdb(int maxPorts) {
        this(DEFAULT_MAX_ENTRIES, DEFAULT_MAX_PER_PORT, maxPorts);
    }

    public Fdb(int maxEntries, int maxPerPort, int maxPorts) {
        this(maxEntries, maxPerPort, maxPorts, new SecureRandom().nextLong());
    }

    /** A table with a chosen hash secret: for tests that need to know where keys land. */
    Fdb(int maxEntries, int maxPerPort, int maxPorts, long salt) {
        if (maxEntries < 1 || maxPerPort < 1 || maxPorts < 1) {
            throw new IllegalArgumentException("FDB limits must be positive");
        }
        this.salt = salt;
        this.maxEntries = maxEntries;
        this.maxPerPort = maxPerPort;
        this.perPort = new int[maxPorts];
        this.table = new Table(capacityFor(maxEntries), salt);
    }

    /** Packs a table key. VLAN 0 stands for "untagged / no VLAN". */
    public static long key(int vlan, long mac) {
        return ((long) vlan << 48) | (mac & 0xffff_ffff_ffffL);
    }

    /**
     * The port {@code mac} was last seen on in {@code vlan}, or {@link #NO_PORT}.
     *
     * <p>Any thread, no lock (the datapath's {@code br_fdb_find_rcu}). Never returns a port the
     * address was not on: see the class comment for the per-slot sequence that guarantees it.
     */
    public int lookup(int vlan, long mac) {
        long stored = table.portOf(key(vlan, mac));
        return stored < 0 ? NO_PORT : (int) stored & ~STATIC_BIT;
    }

    /**
     * Learns that {@code mac} in {@code vlan} lives behind {@code port} ({@code br_fdb_update}).
     *
     * <p>Any datapath thread. The common case (known address, same port) only refreshes its time,
     * without a lock; creating or moving an entry takes {@code writeLock}.
     *
     * @return {@link #REFRESHED}, {@link #LEARNED}, {@link #MOVED}, {@link #REFUSED} (a limit was hit)
     *     or {@link #STATIC_KEPT} (a static entry pins the address elsewhere)
     */
    public int learn(int vlan, long mac, int port, long now) {
        long key = key(vlan, mac);
        Table t = table;
        int slot = t.find(key);
        if (slot >= 0) {
            long stored = t.validatedPort(slot, key);
            if (stored == port) {
                if (now - (long) LONGS.getOpaque(t.seen, slot) > REFRESH_NANOS) {
                    LONGS.setOpaque(t.seen, slot, now);
                }
                return REFRESHED;
            }
            if (stored >= 0 && ((int) stored & STATIC_BIT) != 0) {
                return ((int) stored & ~STATIC_BIT) == port ? REFRESHED : STATIC_KEPT;
            }
        }
        return learnLocked(key, port, now);
    }

    private int learnLocked(long key, int port, long now) {
        synchronized (writeLock) {
            Table t = table;
            int slot = t.find(key);
            if (slot >= 0) {
                int stored = t.port(slot);
                if ((stored & STATIC_BIT) != 0) {
                    return (stored & ~STATIC_BIT) == port ? REFRESHED : STATIC_KEPT;
                }
                LONGS.setOpaque(t.seen, slot, now);
                if (stored == port) {
                    return REFRESHED;
                }
                if (perPort[port] >= maxPerPort) {
                    refusedPort.increment();
                    return REFUSED;
                }
                perPort[stored]--;
                perPort[port]++;
                t.setPort(slot, port);
                moves.increment();
                return MOVED;
            }
            if (learnedCount >= maxEntries) {
                refusedGlobal.increment();
                return REFUSED;
            }
            if (perPort[port] >= maxPerPort) {
                refusedPort.increment();
                return REFUSED;
            }
            insert(key, port, now);
            learnedCount++;
            perPort[port]++;
            learnedTotal.increment();
            return LEARNED;
        }
    }

    /**
     * Adds or replaces a static entry: never ages, never moves, not counted against limits.
     * Control plane; takes {@code writeLock}.
     */
    public void addStatic(int vlan, long mac, int port) {
        if ((mac & 0x0100_0000_0000L) != 0 || mac == 0) {
            throw new IllegalArgumentException("static entries need a unicast, non-zero MAC");
        }
        synchronized (writeLock) {
            removeLocked(key(vlan, mac));
            insert(key(vlan, mac), port | STATIC_BIT, 0L);
            staticCount++;
        }
    }

    /**
     * Removes the entry for {@code mac} in {@code vlan}; returns whether there was one. Any thread;
     * takes {@code writeLock}.
     */
    public boolean remove(int vlan, long mac) {
        synchronized (writeLock) {
            return removeLocked(key(vlan, mac));
        }
    }

    /**
     * Removes learned (and, if {@code includeStatic}, static) entries of {@code port}, or of every port
     * when port is {@link #NO_PORT} ({@code br_fdb_delete_by_port}). Control plane; takes
     * {@code writeLock}.
     */
    public int flush(int port, boolean includeStatic) {
        synchronized (writeLock) {
            Table t = table;
            int removed = 0;
            for (int i = 0; i < t.keys.length; i++) {
                long k = t.keys[i];
                if (k == EMPTY || k == TOMBSTONE) {
                    continue;
                }
                int stored = t.port(i);
                boolean isStatic = (stored & STATIC_BIT) != 0;
                if ((port == NO_PORT || (stored & ~STATIC_BIT) == port) && (includeStatic || !isStatic)) {
                    removeSlot(t, i);
                    removed++;
                }
            }
            return removed;
        }
    }

    /**
     * Removes learned entries not refreshed for the ageing time; returns how many
     * ({@code br_fdb_cleanup}). Housekeeping thread; takes {@code writeLock}.
     */
    public int age(long now) {
        long limit = ageingNanos;
        synchronized (writeLock) {
            Table t = table;
            int removed = 0;
            for (int i = 0; i < t.keys.length; i++) {
                long k = t.keys[i];
                if (k != EMPTY && k != TOMBSTONE && (t.port(i) & STATIC_BIT) == 0
                        && now - (long) LONGS.getOpaque(t.seen, i) > limit) {
                    removeSlot(t, i);
                    removed++;
                }
            }
            aged.add(removed);
            return removed;
        }
    }

    /** Sets the ageing time ({@code br_set_ageing_time}). Control plane; a volatile write, no lock. */
    public void setAgeingNanos(long nanos) {
        if (nanos <= 0) {
            throw new IllegalArgumentException("ageing time must be positive");
        }
        ageingNanos = nanos;
    }

    /** The ageing time. Any thread, no lock. */
    public long ageingNanos() {
        return ageingNanos;
    }

    /**
     * Visits every entry (cold path: listing, saving static entries). Any thread, no lock: an entry
     * changed during the walk may be shown as it was or as it is.
     */
    public void forEach(long now, Visitor visitor) {
        Table t = table;
        for (int i = 0; i < t.keys.length; i++) {
            long k = (long) LONGS.getAcquire(t.keys, i);
            if (k == EMPTY || k == TOMBSTONE) {
                continue;
            }
            long validated = t.validatedPort(i, k);
            if (validated < 0) {
                continue;
            }
            int stored = (int) validated;
            boolean isStatic = (stored & STATIC_BIT) != 0;
            long age = isStatic ? 0 : now - (long) LONGS.getOpaque(t.seen, i);
            visitor.entry((int) (k >>> 48), k & 0xffff_ffff_ffffL, stored & ~STATIC_BIT, isStatic, age);
        }
    }

    /** Receives entries from {@link #forEach}. */
    @FunctionalInterface
    public interface Visitor {
        void entry(int vlan, long mac, int port, boolean isStatic, long ageNanos);
    }

    /** Learned (non-static) entries now. Control plane (stats); takes {@code writeLock}. */
    public int learnedCount() {
        synchronized (writeLock) {
            return learnedCount;
        }
    }

    /** Static entries now. Control plane (stats); takes {@code writeLock}. */
    public int staticCount() {
        synchronized (writeLock) {
            return staticCount;
        }
    }

    /** Learned entries pointing at {@code port}. Control plane (stats); takes {@code writeLock}. */
    public int learnedOnPort(int port) {
        synchronized (writeLock) {
            return perPort[port];
        }
    }

    /**
     * Changes the limits. Entries already learned stay; the table grows on its next rebuild if the new
     * global limit needs more room. Control plane; takes {@code writeLock}.
     */
    public void setLimits(int newMaxEntries, int newMaxPerPort) {
        if (newMaxEntries < 1 || newMaxPerPort < 1) {
            throw new IllegalArgumentException("FDB limits must be positive");
        }
        synchronized (writeLock) {
            maxEntries = newMaxEntries;
            maxPerPort = newMaxPerPort;
        }
    }

    /** The global limit. Any thread, no lock; likewise every counter below (sums of adders, read racily). */
    public int maxEntries() {
        return maxEntries;
    }

    public int maxPerPort() {
        return maxPerPort;
    }

    public long learnedTotal() {
        return learnedTotal.sum();
    }

    public long moves() {
        return moves.sum();
    }

    public long refusedGlobalLimit() {
        return refusedGlobal.sum();
    }

    public long refusedPortLimit() {
        return refusedPort.sum();
    }

    public long agedOut() {
        return aged.sum();
    }

    private boolean removeLocked(long key) {
        Table t = table;
        int slot = t.find(key);
        if (slot < 0) {
            return false;
        }
        removeSlot(t, slot);
        return true;
    }

    private void removeSlot(Table t, int slot) {
        int stored = t.port(slot);
        if ((stored & STATIC_BIT) == 0) {
            learnedCount--;
            perPort[stored]--;
        } else {
            staticCount--;
        }
        LONGS.setRelease(t.keys, slot, TOMBSTONE);
        tombstones++;
    }

    private void insert(long key, int storedPort, long now) {
        Table t = table;
        if (learnedCount + staticCount + tombstones + 1 > t.keys.length * 3 / 4) {
            t = rebuild(t);
        }
        int mask = t.keys.length - 1;
        int i = t.home(key);
        while (true) {
            long k = t.keys[i];
            if (k == EMPTY || k == TOMBSTONE) {
                if (k == TOMBSTONE) {
                    tombstones--;
                }
                t.claim(i, key, storedPort, now);
                return;
            }
            i = (i + 1) & mask;
        }
    }

    private static int capacityFor(int entries) {
        return Integer.highestOneBit(Math.max(16, entries * 2 - 1)) << 1;
    }

    /**
     * Copies live entries into a fresh table to drop tombstones (and to grow, if the limit was raised);
     * readers keep using the old one until the switch.
     */
    private Table rebuild(Table old) {
        Table fresh = new Table(Math.max(old.keys.length, capacityFor(maxEntries + staticCount)), salt);
        int mask = fresh.keys.length - 1;
        for (int i = 0; i < old.keys.length; i++) {
            long k = old.keys[i];
            if (k == EMPTY || k == TOMBSTONE) {
                continue;
            }
            int j = fresh.home(k);
            while (fresh.keys[j] != EMPTY) {
                j = (j + 1) & mask;
            }
            fresh.keys[j] = k;
            fresh.ports[j] = old.port(i);
            fresh.seen[j] = (long) LONGS.getOpaque(old.seen, i);
        }
        tombstones = 0;
        table = fresh;
        return fresh;
    }

    /** Home slot of {@code mac} in {@code vlan} in the current table: for tests. */
    int home(int vlan, long mac) {
        return table.home(key(vlan, mac));
    }

    /** Slots scanned to find {@code mac} in {@code vlan} (or to learn it is absent): for tests. */
    int probes(int vlan, long mac) {
        Table t = table;
        long key = key(vlan, mac);
        int mask = t.keys.length - 1;
        int i = t.home(key);
        int probes = 1;
        while (probes <= mask) {
            long stored = t.keys[i];
            if (stored == EMPTY || stored == key) {
                return probes;
            }
            i = (i + 1) & mask;
            probes++;
        }
        return probes;
    }

    /**
     * One generation of the open-addressing table. Readers may hold an old generation after a
     * rebuild published a new one; nothing writes to a generation once it is replaced.
     */
    private static final class Table {
        final long[] keys;
        /** Per slot: the sequence (high 32 bits, odd while the slot changes hands) and the port word. */
        final long[] ports;
        final long[] seen;
        final long salt;

        Table(int capacity, long salt) {
            keys = new long[capacity];
            ports = new long[capacity];
            seen = new long[capacity];
            this.salt = salt;
        }

        /**
         * Home slot of {@code key}: the key mixed with the table's secret by a full-avalanche finalizer
         * (MurmurHash3's fmix64), so every bit of key and secret moves every bit of the index.
         */
        int home(long key) {
            long h = key ^ salt;
            h = (h ^ (h >>> 33)) * 0xff51afd7ed558ccdL;
            h = (h ^ (h >>> 33)) * 0xc4ceb9fe1a85ec53L;
            h ^= h >>> 33;
            return (int) h & (keys.length - 1);
        }

        /** Slot holding {@code key}, or -1. Lock-free. */
        int find(long key) {
            long[] k = keys;
            int mask = k.length - 1;
            int i = home(key);
            for (int probes = 0; probes <= mask; probes++) {
                long stored = (long) LONGS.getAcquire(k, i);
                if (stored == EMPTY) {
                    return -1;
                }
                if (stored == key) {
                    return i;
                }
                i = (i + 1) & mask;
            }
            return -1;
        }

        /** Port word of {@code key} (port and static bit, as an unsigned int), or -1. Lock-free. */
        long portOf(long key) {
            int slot = find(key);
            return slot < 0 ? -1 : validatedPort(slot, key);
        }

        /**
         * The port word of {@code slot} if the slot holds {@code key} for the whole read, else -1
         * (the key left the slot: the address is gone or being moved to a fresh table). Lock-free: the
         * seqlock read side. The acquire load of the sequence keeps the key and port reads after it;
         * the acquire fence keeps them before the second read of the sequence.
         */
        long validatedPort(int slot, long key) {
            while (true) {
                long before = (long) LONGS.getAcquire(ports, slot);
                long k = (long) LONGS.getOpaque(keys, slot);
                VarHandle.acquireFence();
                long after = (long) LONGS.getOpaque(ports, slot);
                if (before == after && ((before >>> 32) & 1) == 0) {
                    return k == key ? before & PORT_MASK : -1;
                }
                Thread.onSpinWait();
            }
        }

        /** Port word of {@code slot}. Under {@code writeLock}. */
        int port(int slot) {
            return (int) ports[slot];
        }

        /** Changes the port of the key already in {@code slot} (a move). Under {@code writeLock}. */
        void setPort(int slot, int storedPort) {
            long seq = ports[slot] & ~PORT_MASK;
            LONGS.setRelease(ports, slot, seq + 2 * SEQ_ONE | storedPort & PORT_MASK);
        }

        /**
         * Gives a free slot to {@code key} (the seqlock write side). Under {@code writeLock}. The odd
         * sequence is ordered before the key and port by the release fence, the key and port before the
         * even sequence by its release store.
         */
        void claim(int slot, long key, int storedPort, long now) {
            long seq = ports[slot] & ~PORT_MASK;
            LONGS.setOpaque(ports, slot, seq + SEQ_ONE | storedPort & PORT_MASK);
            VarHandle.releaseFence();
            LONGS.setOpaque(seen, slot, now);
            LONGS.setOpaque(keys, slot, key);
            LONGS.setRelease(ports, slot, seq + 2 * SEQ_ONE | storedPort & PORT_MASK);
        }
    }
}
