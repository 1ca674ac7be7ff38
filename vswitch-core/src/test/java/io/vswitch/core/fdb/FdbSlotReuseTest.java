package io.vswitch.core.fdb;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * Defect: a lookup found its key, the slot was freed and given to another address, and the lookup
 * returned the other address's port. Here every address shares one home slot, so each insert takes
 * exactly the slot the previous delete freed, while readers look the addresses up without pause.
 */
class FdbSlotReuseTest {
    private static final int ADDRESSES = 4;
    private static final long RUN_NANOS = TimeUnit.SECONDS.toNanos(2);

    @Test
    void aReaderNeverSeesAPortItsAddressWasNeverOn() throws InterruptedException {
        Fdb fdb = new Fdb(64, 64, 16, 0x5eed_0f_fdbL);
        long[] macs = sameHome(fdb, ADDRESSES);
        AtomicReference<String> wrong = new AtomicReference<>();
        AtomicLong found = new AtomicLong();
        long deadline = System.nanoTime() + RUN_NANOS;

        Thread writer = new Thread(() -> {
            // Address i is only ever on port i + 1.
            while (wrong.get() == null && System.nanoTime() < deadline) {
                for (int i = 0; i < ADDRESSES; i++) {
                    assertEquals(Fdb.LEARNED, fdb.learn(0, macs[i], i + 1, 0));
                    fdb.remove(0, macs[i]);
                }
            }
        }, "fdb-writer");
        Thread[] readers = new Thread[2];
        for (int r = 0; r < readers.length; r++) {
            readers[r] = new Thread(() -> {
                long hits = 0;
                while (wrong.get() == null && System.nanoTime() < deadline) {
                    for (int i = 0; i < ADDRESSES; i++) {
                        int port = fdb.lookup(0, macs[i]);
                        if (port == Fdb.NO_PORT) {
                            continue;
                        }
                        hits++;
                        if (port != i + 1) {
                            wrong.compareAndSet(null, String.format(
                                    "lookup of %012x gave port %d; it was only ever on port %d", macs[i], port, i + 1));
                        }
                    }
                }
                found.addAndGet(hits);
            }, "fdb-reader-" + r);
        }
        writer.start();
        for (Thread reader : readers) {
            reader.start();
        }
        writer.join();
        for (Thread reader : readers) {
            reader.join();
        }
        assertEquals(null, wrong.get());
        assertTrue(found.get() > 0, "the readers found the addresses at least sometimes");
    }

    /** {@code n} unicast addresses whose home slot is the same in {@code fdb}'s current table. */
    static long[] sameHome(Fdb fdb, int n) {
        long[] out = new long[n];
        long first = 0x0200_0000_0000L;
        int home = fdb.home(0, first);
        out[0] = first;
        int found = 1;
        for (long mac = first + 1; found < n; mac++) {
            if (fdb.home(0, mac) == home) {
                out[found++] = mac;
            }
        }
        return out;
    }
}
