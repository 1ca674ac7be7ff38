package io.vswitch.core.flow;

import static io.vswitch.core.testing.Frames.mac;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.alloc.NativeAddress;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameParser;
import io.vswitch.core.testing.Frames;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class FlowTableTest {
    private static final long A = mac("02:00:00:00:00:0a");
    private static final long B = mac("02:00:00:00:00:0b");
    private static final long SECOND = TimeUnit.SECONDS.toNanos(1);

    private static int hash(byte[] bytes) {
        FragAllocator allocator = new FragAllocator(NativeAddress.NONE);
        Frame f = new Frame();
        allocator.allocate(f, bytes.length);
        f.write(bytes, 0, bytes.length);
        assertEquals(FrameParser.OK, FrameParser.parse(f));
        return FlowHash.of(f);
    }

    @Test
    void hashIsSymmetricAndSeparatesFlows() {
        int ab = hash(Frames.udp4(B, A, 0xc6120001, 0xc6120002, 1000, 2000, 4));
        int ba = hash(Frames.udp4(A, B, 0xc6120002, 0xc6120001, 2000, 1000, 4));
        assertEquals(ab, ba);
        assertNotEquals(ab, hash(Frames.udp4(B, A, 0xc6120001, 0xc6120002, 1001, 2000, 4)));
        byte[] v6 = Frames.tcp6(B, A, 5, 6, 1, 0);
        assertEquals(hash(v6), hash(reversed6(v6)));
        assertEquals(hash(Frames.arp(A)), hash(Frames.arp(A)));
        assertEquals(FlowHash.ordered(1, 2, 3, 4, 9), FlowHash.ordered(3, 4, 1, 2, 9));
    }

    /** The same IPv6/TCP frame in the other direction: addresses and ports swapped. */
    private static byte[] reversed6(byte[] frame) {
        byte[] r = frame.clone();
        System.arraycopy(frame, 22, r, 38, 16);
        System.arraycopy(frame, 38, r, 22, 16);
        System.arraycopy(frame, 54, r, 56, 2);
        System.arraycopy(frame, 56, r, 54, 2);
        return r;
    }

    @Test
    void selectReturnsTheRecordedQueueUntilExpiry() {
        FlowTable table = new FlowTable(3 * SECOND);
        table.record(12345, 3, 0);
        assertEquals(3, table.select(12345, 4, SECOND));
        assertEquals(3, table.select(12345, 4, 3 * SECOND));
        assertEquals(Integer.remainderUnsigned(12345, 4), table.select(12345, 4, 3 * SECOND + 1));
        table.record(12345, 2, 4 * SECOND);
        assertEquals(2, table.select(12345, 4, 4 * SECOND));
    }

    @Test
    void fallsBackWhenQueueNoLongerExistsOrFlowUnknown() {
        FlowTable table = new FlowTable();
        table.record(-7, 3, 0);
        assertEquals(Integer.remainderUnsigned(-7, 2), table.select(-7, 2, 0));
        assertEquals(Integer.remainderUnsigned(99, 3), table.select(99, 3, 0));
    }

    @Test
    void boundedToMaxEntriesEvictingTheOldest() {
        FlowTable table = new FlowTable();
        for (int i = 0; i < 3 * FlowTable.MAX_ENTRIES; i++) {
            table.record(i * 0x9e3779b1, i & 3, i);
        }
        assertEquals(FlowTable.MAX_ENTRIES, table.size(3L * FlowTable.MAX_ENTRIES));
        int newest = (3 * FlowTable.MAX_ENTRIES - 1) * 0x9e3779b1;
        assertEquals((3 * FlowTable.MAX_ENTRIES - 1) & 3, table.select(newest, 4, 3L * FlowTable.MAX_ENTRIES));
    }

    @Test
    void expireForgetsIdleEntries() {
        FlowTable table = new FlowTable(SECOND);
        table.record(1, 1, 0);
        table.record(2, 1, SECOND);
        table.expire(SECOND + SECOND / 2);
        int[] seen = new int[1];
        table.forEach(SECOND + SECOND / 2, (hash, queue, age) -> {
            assertEquals(2, hash);
            seen[0]++;
        });
        assertEquals(1, seen[0]);
    }

    @Test
    void concurrentRecordAndSelectStayInRange() throws InterruptedException {
        FlowTable table = new FlowTable();
        Thread[] threads = new Thread[4];
        boolean[] bad = new boolean[1];
        for (int t = 0; t < threads.length; t++) {
            int queue = t;
            threads[t] = new Thread(() -> {
                for (int i = 0; i < 500_000; i++) {
                    int h = (i % 5000) * 0x85ebca6b;
                    table.record(h, queue, i);
                    int q = table.select(h, 4, i);
                    if (q < 0 || q >= 4) {
                        bad[0] = true;
                    }
                }
            });
            threads[t].start();
        }
        for (Thread t : threads) {
            t.join();
        }
        assertTrue(!bad[0]);
        assertTrue(table.size(500_000) <= FlowTable.MAX_ENTRIES);
    }
}
