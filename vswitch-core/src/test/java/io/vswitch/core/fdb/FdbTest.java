package io.vswitch.core.fdb;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class FdbTest {
    private static final long S = TimeUnit.SECONDS.toNanos(1);
    private static final long MAC = 0x0200_0000_0001L;

    @Test
    void learnsAndLooksUpPerVlan() {
        Fdb fdb = new Fdb(16);
        assertEquals(Fdb.LEARNED, fdb.learn(10, MAC, 3, 0));
        assertEquals(3, fdb.lookup(10, MAC));
        assertEquals(Fdb.NO_PORT, fdb.lookup(20, MAC));
        assertEquals(Fdb.REFRESHED, fdb.learn(10, MAC, 3, S));
        assertEquals(1, fdb.learnedCount());
    }

    @Test
    void movesAreCounted() {
        Fdb fdb = new Fdb(16);
        fdb.learn(0, MAC, 1, 0);
        assertEquals(Fdb.MOVED, fdb.learn(0, MAC, 2, 0));
        assertEquals(2, fdb.lookup(0, MAC));
        assertEquals(1, fdb.moves());
        assertEquals(0, fdb.learnedOnPort(1));
        assertEquals(1, fdb.learnedOnPort(2));
    }

    @Test
    void ageingRemovesOnlyIdleLearnedEntries() {
        Fdb fdb = new Fdb(16);
        fdb.setAgeingNanos(300 * S);
        fdb.learn(0, MAC, 1, 0);
        fdb.learn(0, MAC + 1, 1, 200 * S);
        fdb.addStatic(0, MAC + 2, 2);
        assertEquals(0, fdb.age(300 * S));
        assertEquals(1, fdb.age(301 * S));
        assertEquals(Fdb.NO_PORT, fdb.lookup(0, MAC));
        assertEquals(1, fdb.lookup(0, MAC + 1));
        assertEquals(2, fdb.lookup(0, MAC + 2));
        assertEquals(1, fdb.age(10_000 * S));
        assertEquals(2, fdb.lookup(0, MAC + 2), "static entries never age");
        assertEquals(2, fdb.agedOut());
    }

    @Test
    void staticEntriesDoNotMove() {
        Fdb fdb = new Fdb(16);
        fdb.addStatic(5, MAC, 4);
        assertEquals(Fdb.STATIC_KEPT, fdb.learn(5, MAC, 1, 0));
        assertEquals(4, fdb.lookup(5, MAC));
        assertEquals(Fdb.REFRESHED, fdb.learn(5, MAC, 4, 0));
        assertThrows(IllegalArgumentException.class, () -> fdb.addStatic(0, 0x0100_5e00_0001L, 1));
        assertThrows(IllegalArgumentException.class, () -> fdb.addStatic(0, 0, 1));
    }

    @Test
    void globalAndPerPortLimitsRefuseAndCount() {
        Fdb fdb = new Fdb(4, 2, 16);
        assertEquals(Fdb.LEARNED, fdb.learn(0, MAC, 1, 0));
        assertEquals(Fdb.LEARNED, fdb.learn(0, MAC + 1, 1, 0));
        assertEquals(Fdb.REFUSED, fdb.learn(0, MAC + 2, 1, 0));
        assertEquals(1, fdb.refusedPortLimit());
        assertEquals(Fdb.LEARNED, fdb.learn(0, MAC + 3, 2, 0));
        assertEquals(Fdb.LEARNED, fdb.learn(0, MAC + 4, 2, 0));
        assertEquals(Fdb.REFUSED, fdb.learn(0, MAC + 5, 3, 0));
        assertEquals(1, fdb.refusedGlobalLimit());
        assertEquals(Fdb.NO_PORT, fdb.lookup(0, MAC + 5));
        fdb.addStatic(0, MAC + 6, 3);
        assertEquals(3, fdb.lookup(0, MAC + 6), "static entries are outside the limits");
    }

    @Test
    void flushAndRemove() {
        Fdb fdb = new Fdb(16);
        fdb.learn(0, MAC, 1, 0);
        fdb.learn(0, MAC + 1, 2, 0);
        fdb.addStatic(0, MAC + 2, 1);
        assertEquals(1, fdb.flush(1, false));
        assertEquals(1, fdb.lookup(0, MAC + 2));
        assertTrue(fdb.remove(0, MAC + 2));
        assertFalse(fdb.remove(0, MAC + 2));
        assertEquals(1, fdb.flush(Fdb.NO_PORT, true));
        assertEquals(0, fdb.learnedCount());
    }

    @Test
    void churnRebuildsTombstonesAway() {
        Fdb fdb = new Fdb(64, 64, 4);
        for (int round = 0; round < 1000; round++) {
            for (int i = 0; i < 64; i++) {
                assertEquals(Fdb.LEARNED, fdb.learn(round & 7, MAC + i, 1, round * S));
            }
            assertEquals(64, fdb.flush(1, false));
        }
        fdb.learn(0, MAC, 1, 0);
        assertEquals(1, fdb.lookup(0, MAC));
    }

    @Test
    void concurrentLearnersAndReadersAgree() throws InterruptedException {
        Fdb fdb = new Fdb(100_000, 100_000, 8);
        Thread[] threads = new Thread[4];
        java.util.concurrent.atomic.AtomicLong lost = new java.util.concurrent.atomic.AtomicLong();
        for (int t = 0; t < threads.length; t++) {
            int port = t;
            threads[t] = new Thread(() -> {
                for (int i = 0; i < 20_000; i++) {
                    long mac = 0x0200_0000_0000L | ((long) port << 24) | i;
                    fdb.learn(1, mac, port, i);
                    if (fdb.lookup(1, mac) != port) {
                        lost.incrementAndGet();
                    }
                }
            });
            threads[t].start();
        }
        for (Thread t : threads) {
            t.join();
        }
        assertEquals(0, lost.get());
        assertEquals(80_000, fdb.learnedCount());
        int[] count = new int[1];
        fdb.forEach(0, (vlan, mac, port, isStatic, age) -> count[0]++);
        assertEquals(80_000, count[0]);
    }
}
