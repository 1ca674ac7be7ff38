package io.vswitch.core.fdb;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.core.testing.UnsaltedCollisions;
import org.junit.jupiter.api.Test;

/** Defect: with no secret in the hash, a guest could put all its source MACs into one probe run. */
class FdbSaltTest {
    private static final int MAX_ENTRIES = 1024;
    private static final int ATTACK = 512;

    @Test
    void addressesCollidingUnderTheUnsaltedHashDoNotShareAProbeRun() {
        long[] macs = UnsaltedCollisions.macs(7, ATTACK, MAX_ENTRIES);
        int capacity = UnsaltedCollisions.capacityFor(MAX_ENTRIES);
        for (long mac : macs) {
            assertEquals(0, UnsaltedCollisions.formerHome(7, mac, capacity), "the attack set collides under the old hash");
        }
        Fdb fdb = new Fdb(MAX_ENTRIES, MAX_ENTRIES, 4);
        for (long mac : macs) {
            assertEquals(Fdb.LEARNED, fdb.learn(7, mac, 1, 0));
        }
        int longest = 0;
        long total = 0;
        for (long mac : macs) {
            int probes = fdb.probes(7, mac);
            longest = Math.max(longest, probes);
            total += probes;
            assertEquals(1, fdb.lookup(7, mac));
        }
        // Random placement at 25 % load: about 1.2 probes on average and a longest run of about ten;
        // the unsalted hash needed 256 on average and 512 at worst for this set.
        assertTrue(longest <= 32, "longest probe run " + longest);
        assertTrue(total < 2L * ATTACK, "average probes " + (double) total / ATTACK);
    }

    @Test
    void eachTableDrawsItsOwnSecret() {
        long mac = 0x0200_0000_0001L;
        int differing = 0;
        Fdb first = new Fdb(MAX_ENTRIES, MAX_ENTRIES, 4);
        for (int i = 0; i < 8; i++) {
            Fdb other = new Fdb(MAX_ENTRIES, MAX_ENTRIES, 4);
            for (int k = 0; k < 16; k++) {
                if (first.home(0, mac + k) != other.home(0, mac + k)) {
                    differing++;
                }
            }
        }
        assertNotEquals(0, differing, "two switches place the same addresses identically");
        assertTrue(differing > 100, "only " + differing + " of 128 placements differ between switches");
    }
}
