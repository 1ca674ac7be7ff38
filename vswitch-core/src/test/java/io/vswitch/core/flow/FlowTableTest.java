package io.vswitch.core.flow;

import static io.vswitch.core.testing.Frames.mac;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.alloc.NativeAddress;
import io.vswitch.core.bridge.Bridge;
import io.vswitch.core.bridge.BridgePort;
import io.vswitch.core.bridge.Forwarder;
import io.vswitch.core.bridge.Ingress;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.frame.FrameParser;
import io.vswitch.core.gso.Segmenter;
import io.vswitch.core.testing.Frames;
import io.vswitch.core.testing.MemoryPort;
import io.vswitch.core.vlan.VlanMembership;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class FlowTableTest {
    private static final long A = mac("02:00:00:00:00:0a");
    private static final long B = mac("02:00:00:00:00:0b");
    private static final long SECOND = TimeUnit.SECONDS.toNanos(1);
    private static final long MS = TimeUnit.MILLISECONDS.toNanos(1);
    private static final int QUEUES = 8;

    private static int hash(byte[] bytes) {
        FragAllocator allocator = new FragAllocator(NativeAddress.NONE);
        Frame f = new Frame();
        assertTrue(allocator.allocate(f, bytes.length));
        try {
            f.write(bytes, 0, bytes.length);
            assertEquals(FrameParser.OK, FrameParser.parse(f));
            return FlowHash.of(f);
        } finally {
            f.release();
        }
    }

    /** A queue that is not where {@code hash} would go without steering, so steering is visible. */
    private static int steeredQueue(int hash) {
        return (Integer.remainderUnsigned(hash, QUEUES) + 3) % QUEUES;
    }

    /** {@code n} hashes of distinct flows that fall into the same bucket. */
    private static int[] sameBucket(int n) {
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = 0x1234_0017 + i * FlowTable.BUCKETS;
        }
        return out;
    }

    @Test
    void hashIsSymmetricAndSeparatesFlows() {
        int ab = hash(Frames.udp4(B, A, 0xc6120001, 0xc6120002, 1000, 2000, 4));
        int ba = hash(Frames.udp4(A, B, 0xc6120002, 0xc6120001, 2000, 1000, 4));
        assertEquals(ab, ba);
        assertNotEquals(ab, hash(Frames.udp4(B, A, 0xc6120001, 0xc6120002, 1001, 2000, 4)));
        byte[] v6 = Frames.tcp6(B, A, 5, 6, 1, 0);
        assertEquals(hash(v6), hash(reversed6(v6)));
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
    void repliesLeaveOnTheQueueTheirFlowArrivedOn() {
        Bridge bridge = new Bridge();
        Forwarder forwarder = new Forwarder(bridge, new Segmenter(NativeAddress.NONE));
        BridgePort guest = bridge.attach(new MemoryPort("guest", QUEUES), VlanMembership.DEFAULT);
        BridgePort peer = bridge.attach(new MemoryPort("peer", 1), VlanMembership.DEFAULT);
        FrameBatch batch = new FrameBatch(4);
        for (int flow = 0; flow < 16; flow++) {
            byte[] out = Frames.udp4(B, A, 0xc6120001, 0xc6120002, 40000 + flow, 53, 8);
            byte[] reply = Frames.udp4(A, B, 0xc6120002, 0xc6120001, 53, 40000 + flow, 8);
            int arrival = steeredQueue(hash(out));
            inject(guest, arrival, out, bridge, forwarder, batch);
            inject(peer, 0, reply, bridge, forwarder, batch);
            List<MemoryPort.Sent> sent = ((MemoryPort) guest.port()).drain();
            assertEquals(1, sent.size());
            assertEquals(arrival, sent.get(0).queue(), "reply of flow " + flow);
            ((MemoryPort) peer.port()).drain();
        }
    }

    private static void inject(BridgePort port, int queue, byte[] frame, Bridge bridge, Forwarder forwarder, FrameBatch batch) {
        MemoryPort.MemoryQueue q = ((MemoryPort) port.port()).queue(queue);
        q.inject(frame);
        assertEquals(1, q.receive(batch));
        new Ingress(bridge, port, queue, forwarder).process(batch, 0);
    }

    @Test
    void steeringHoldsUntilExpiryThenFallsBack() {
        FlowTable table = new FlowTable(3 * SECOND);
        int hash = 12345;
        int queue = steeredQueue(hash);
        table.record(hash, queue, 0);
        assertEquals(queue, table.select(hash, QUEUES, SECOND));
        assertEquals(queue, table.select(hash, QUEUES, 3 * SECOND));
        assertEquals(Integer.remainderUnsigned(hash, QUEUES), table.select(hash, QUEUES, 3 * SECOND + 1), "expired");
        table.record(hash, (queue + 1) % QUEUES, 4 * SECOND);
        assertEquals((queue + 1) % QUEUES, table.select(hash, QUEUES, 4 * SECOND), "a flow that moved queue is followed");
    }

    @Test
    void fallsBackWhenTheQueueIsGoneOrTheFlowUnknown() {
        FlowTable table = new FlowTable();
        table.record(-7, 5, 0);
        assertEquals(Integer.remainderUnsigned(-7, 4), table.select(-7, 4, 0), "queue 5 of 4");
        assertEquals(5, table.select(-7, QUEUES, 0));
        assertEquals(Integer.remainderUnsigned(99, 3), table.select(99, 3, 0));
    }

    @Test
    void expireForgetsOnlyIdleFlows() {
        FlowTable table = new FlowTable(SECOND);
        table.record(1, 1, 0);
        table.record(2, 2, SECOND);
        table.expire(SECOND + SECOND / 2);
        int[] seen = new int[1];
        table.forEach(0, (hash, queue, age) -> {
            assertEquals(2, hash, "flow 1 was idle past the expiry");
            seen[0]++;
        });
        assertEquals(1, seen[0], "forEach at time 0 still sees entries that expire() left");
        assertEquals(2, table.select(2, QUEUES, SECOND + SECOND / 2));
    }

    @Test
    void aFullBucketReplacesItsLeastRecentlyUsedFlow() {
        FlowTable table = new FlowTable(SECOND);
        int[] flows = sameBucket(FlowTable.WAYS + 1);
        for (int i = 0; i < FlowTable.WAYS; i++) {
            table.record(flows[i], steeredQueue(flows[i]), i * 10 * MS);
        }
        table.record(flows[0], steeredQueue(flows[0]), 100 * MS); // flow 0 is busy again
        table.record(flows[FlowTable.WAYS], steeredQueue(flows[FlowTable.WAYS]), 110 * MS);
        long now = 120 * MS;
        assertEquals(Integer.remainderUnsigned(flows[1], QUEUES), table.select(flows[1], QUEUES, now),
                "flow 1, the least recently used, made room");
        for (int i : new int[] {0, 2, 3, FlowTable.WAYS}) {
            assertEquals(steeredQueue(flows[i]), table.select(flows[i], QUEUES, now), "flow " + i + " kept");
        }
    }

    @Test
    void anExpiredFlowIsReplacedBeforeALiveOne() {
        FlowTable table = new FlowTable(SECOND);
        int[] flows = sameBucket(FlowTable.WAYS + 1);
        table.record(flows[0], steeredQueue(flows[0]), 0); // expires at 1 s
        for (int i = 1; i < FlowTable.WAYS; i++) {
            table.record(flows[i], steeredQueue(flows[i]), SECOND / 2 + i * MS);
        }
        // At 1.2 s flow 0 is expired; flow 1 is older than flows 2 and 3 but still live.
        table.record(flows[FlowTable.WAYS], steeredQueue(flows[FlowTable.WAYS]), SECOND + SECOND / 5);
        long now = SECOND + SECOND / 5;
        for (int i = 1; i <= FlowTable.WAYS; i++) {
            assertEquals(steeredQueue(flows[i]), table.select(flows[i], QUEUES, now), "flow " + i + " kept");
        }
        assertEquals(FlowTable.WAYS, table.size(now));
    }

    @Test
    void underPressureTheTableHoldsAtMostMaxEntriesAndTheNewestFlows() {
        FlowTable table = new FlowTable(SECOND);
        int total = 3 * FlowTable.MAX_ENTRIES;
        for (int i = 0; i < total; i++) {
            int h = i * 0x9e3779b1;
            table.record(h, steeredQueue(h), i * 1000L);
        }
        long now = total * 1000L;
        assertEquals(FlowTable.MAX_ENTRIES, table.size(now));
        int newest = (total - 1) * 0x9e3779b1;
        assertEquals(steeredQueue(newest), table.select(newest, QUEUES, now));
    }

    @Test
    void concurrentThreadsNeverSeeAnotherFlowsQueue() throws InterruptedException {
        // 65536 queues: a fallback (hash mod 65536, at least 16 here) can never be mistaken for a
        // recorded queue (0-3), so any answer below 16 that is not the flow's own queue is a torn read.
        FlowTable table = new FlowTable();
        int queueCount = 1 << 16;
        Thread[] threads = new Thread[4];
        AtomicReference<String> wrong = new AtomicReference<>();
        for (int t = 0; t < threads.length; t++) {
            int queue = t;
            threads[t] = new Thread(() -> {
                for (int i = 0; i < 300_000 && wrong.get() == null; i++) {
                    int own = flowOf(queue, i % 3000);
                    table.record(own, queue, i);
                    int other = flowOf((queue + 1) % 4, i % 3000);
                    int q = table.select(other, queueCount, i);
                    if (q < 16 && q != (queue + 1) % 4) {
                        wrong.compareAndSet(null, "flow of queue " + (queue + 1) % 4 + " steered to " + q);
                    }
                }
            });
            threads[t].start();
        }
        for (Thread t : threads) {
            t.join();
        }
        assertNull(wrong.get());
    }

    /**
     * Flow {@code i} of the thread recording on {@code queue}: every thread's flows share the same 32
     * buckets (bits 0-9), the queue bits (12-13) keep the hashes distinct, and the low 16 bits are at
     * least 32.
     */
    private static int flowOf(int queue, int i) {
        return (i << 16) | (queue << 12) | 0x20 | (i & 0x1f);
    }
}
