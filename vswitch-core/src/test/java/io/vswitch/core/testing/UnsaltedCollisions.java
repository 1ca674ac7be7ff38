package io.vswitch.core.testing;

/**
 * Source MACs an attacker could pick against the FDB's former hash, which had no secret: slot =
 * {@code (h ^ (h >>> 29)) & mask} with {@code h = key * 0x9e3779b97f4a7c15}. Every address returned
 * had the same home slot there, so a table of them was one probe run as long as the list. Used by the
 * FDB tests and the adversarial FDB benchmark to show the salted hash spreads them.
 */
public final class UnsaltedCollisions {
    private UnsaltedCollisions() {
    }

    /** The former home slot of {@code (vlan << 48) | mac} in a table of {@code capacity} slots. */
    public static int formerHome(int vlan, long mac, int capacity) {
        long h = (((long) vlan << 48) | mac) * 0x9e3779b97f4a7c15L;
        return (int) (h ^ (h >>> 29)) & (capacity - 1);
    }

    /** Slots of the table an FDB with a global limit of {@code maxEntries} builds (twice the limit, a power of two). */
    public static int capacityFor(int maxEntries) {
        return Integer.highestOneBit(Math.max(16, maxEntries * 2 - 1)) << 1;
    }

    /**
     * {@code n} distinct locally administered unicast MACs in {@code vlan} that all had the same home
     * slot under the former hash in a table for {@code maxEntries} entries.
     */
    public static long[] macs(int vlan, int n, int maxEntries) {
        int capacity = capacityFor(maxEntries);
        long[] out = new long[n];
        int found = 0;
        for (long mac = 0x0200_0000_0000L; found < n; mac++) {
            if (formerHome(vlan, mac, capacity) == 0) {
                out[found++] = mac;
            }
        }
        return out;
    }
}
