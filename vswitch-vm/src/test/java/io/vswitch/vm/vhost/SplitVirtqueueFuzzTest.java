package io.vswitch.vm.vhost;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.kenai.jffi.MemoryIO;
import io.vswitch.linux.LibC;
import io.vswitch.linux.NativeBuffer;
import io.vswitch.linux.SharedMemory;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Coverage-guided fuzzing (Jazzer) of the split-ring walker over what a guest writes: descriptor
 * tables, avail rings, indirect tables and buffers in a memfd-backed region, walked for guest TX
 * ({@link SplitVirtqueue#nextChain} and {@link SplitVirtqueue#copyChainTo}) and guest RX
 * ({@link SplitVirtqueue#deliver}, mergeable or not).
 *
 * <p>Each input is checked against a model of the virtio 1.x rules (section 2.7.5, plus this
 * back-end's documented limits) walked in the test: a chain the model accepts must be taken whole,
 * with exactly the bytes at its guest addresses; a chain it refuses must stop the ring with exactly one
 * {@link VhostEvent} counted. Whatever the input, the walker writes nothing outside the region (a
 * canary fills the memfd below it, inside the walker's own mapping), never writes the descriptor table
 * or avail ring, and terminates.
 *
 * <p>Region layout (guest-physical = offset in the region): descriptor table at 0, avail ring at
 * {@code 0x1000}, used ring at {@code 0x2000}, buffers and indirect tables from {@code 0x3000}.
 */
class SplitVirtqueueFuzzTest {
    private static final MemoryIO IO = MemoryIO.getInstance();
    private static final long CANARY = 64 << 10;
    private static final long DECLARED = 64 << 10;
    private static final long USER = 0x7f00_0000_0000L;
    private static final int DESC = 0;
    private static final int AVAIL = 0x1000;
    private static final int USED = 0x2000;
    private static final int DATA = 0x3000;
    private static final int MAX_RING = 256;
    private static final long MAX_BYTES = 1 << 16;
    private static final VhostEvent[] RING_EVENTS = {VhostEvent.BAD_ADDRESS, VhostEvent.BAD_LENGTH, VhostEvent.CHAIN_TOO_LONG,
        VhostEvent.BAD_INDEX, VhostEvent.AVAIL_JUMP, VhostEvent.BAD_DESCRIPTOR};

    private static int fd = -1;
    private static SharedMemory file;
    private static GuestMemory memory;
    private static NativeBuffer sink;
    private static NativeBuffer frame;
    private static long region;
    /** What the memfd holds below the region, and the region before the guest writes its rings. */
    private static final byte[] CANARY_BYTES = pattern((int) CANARY, 0x5a);
    private static final byte[] REGION_BYTES = pattern((int) DECLARED, 0x01);

    private static byte[] pattern(int length, int seed) {
        byte[] out = new byte[length];
        for (int i = 0; i < length; i++) {
            out[i] = (byte) (seed * (i >>> 3) ^ i);
        }
        return out;
    }

    @BeforeAll
    static void mapGuest() throws Exception {
        fd = SharedMemory.createMemfd("ring-fuzz", CANARY + DECLARED);
        file = SharedMemory.map(fd, CANARY + DECLARED);
        // The region starts CANARY bytes into the file, so the walker's mapping holds the canary below it.
        memory = GuestMemory.map(new long[] {0}, new long[] {DECLARED}, new long[] {USER}, new long[] {CANARY}, new int[] {fd});
        region = file.address() + CANARY;
        sink = new NativeBuffer(MAX_BYTES);
        frame = new NativeBuffer(MAX_BYTES);
    }

    @AfterAll
    static void unmap() {
        memory.close();
        file.close();
        sink.close();
        frame.close();
        LibC.INSTANCE.close(fd);
    }

    @FuzzTest(maxDuration = "30s")
    void ringsFromAHostileGuestNeverLeaveTheRegion(FuzzedDataProvider data) {
        fillCanary();
        int size = 1 << data.consumeInt(0, 8);
        boolean eventIdx = data.consumeBoolean();
        boolean indirect = data.consumeBoolean();
        boolean guestRx = data.consumeBoolean();
        boolean mergeable = data.consumeBoolean();
        int base = data.consumeInt(0, 0xffff);
        writeGuestMemory(data, size, base);

        VhostCounters counters = new VhostCounters();
        SplitVirtqueue ring = new SplitVirtqueue(guestRx ? 0 : 1, counters);
        try {
            ring.setMemory(memory);
            ring.setSize(size);
            ring.setBase(base);
            ring.setAddresses(USER + DESC, USER + USED, USER + AVAIL);
            ring.setFeatures(eventIdx, indirect);
            ring.setEnabled(true);
            ring.setKick(-1);
            // The descriptor table and the avail ring: the device only reads them.
            byte[] table = snapshot(DESC, 16 * size);
            byte[] avail = snapshot(AVAIL, 6 + 2 * size);
            Model model = new Model(size, base, indirect);
            synchronized (ring) {
                if (guestRx) {
                    deliverOne(data, ring, counters, model, mergeable);
                } else {
                    takeChains(data, ring, counters, model);
                }
            }
            if (!model.uncertain) { // else the guest put a buffer for the device to fill on its own rings
                assertArrayEquals(table, snapshot(DESC, 16 * size), "the device wrote the descriptor table");
                assertArrayEquals(avail, snapshot(AVAIL, 6 + 2 * size), "the device wrote the avail ring");
            }
        } catch (BadRequest e) {
            throw new AssertionError("the fixed ring layout was refused", e);
        } finally {
            ring.reset();
            ring.close();
        }
        assertCanaryIntact();
    }

    /**
     * Found by the fuzzer: a guest that splits the virtio-net header over two descriptors (allowed
     * since virtio 1.0, which makes no assumption about framing) got num_buffers left at 1 when a frame
     * took two mergeable buffers, and would have read the second buffer as a frame of its own.
     */
    @Test
    void numBuffersReachesAGuestThatSplitsTheHeaderOverTwoDescriptors() throws Exception {
        IO.putByteArray(region, REGION_BYTES, 0, REGION_BYTES.length);
        // Chain 0: 11 bytes, then 50 (the header's byte 11 in the second descriptor); chain 1: 100 bytes.
        putDescriptor(0, DATA, 11, SplitVirtqueue.DESC_F_WRITE | SplitVirtqueue.DESC_F_NEXT, 1);
        putDescriptor(1, DATA + 0x100, 50, SplitVirtqueue.DESC_F_WRITE, 0);
        putDescriptor(2, DATA + 0x200, 100, SplitVirtqueue.DESC_F_WRITE, 0);
        IO.putShort(region + AVAIL + 4, (short) 0);
        IO.putShort(region + AVAIL + 6, (short) 2);
        IO.putShort(region + AVAIL + 2, (short) 2);
        VhostCounters counters = new VhostCounters();
        SplitVirtqueue ring = new SplitVirtqueue(0, counters);
        try {
            ring.setMemory(memory);
            ring.setSize(4);
            ring.setBase(0);
            ring.setAddresses(USER + DESC, USER + USED, USER + AVAIL);
            ring.setFeatures(false, false);
            ring.setEnabled(true);
            ring.setKick(-1);
            IO.setMemory(frame.address(), 120, (byte) 0x33);
            IO.putShort(frame.address() + 10, (short) 1); // as VhostQueue leaves it before delivering
            synchronized (ring) {
                assertTrue(ring.deliver(frame.address(), 120, true, MAX_BYTES));
            }
            assertEquals(2, IO.getByte(region + DATA + 10), "num_buffers, low byte (end of the first descriptor)");
            assertEquals(0, IO.getByte(region + DATA + 0x100), "num_buffers, high byte (start of the second)");
        } finally {
            ring.reset();
            ring.close();
        }
    }

    private static void putDescriptor(int index, long address, int length, int flags, int next) {
        long at = region + DESC + 16L * index;
        IO.putLong(at, address);
        IO.putInt(at + 8, length);
        IO.putShort(at + 12, (short) flags);
        IO.putShort(at + 14, (short) next);
    }

    /** Guest TX: takes up to four chains, each compared with the model right before the walker takes it. */
    private static void takeChains(FuzzedDataProvider data, SplitVirtqueue ring, VhostCounters counters, Model model) {
        int chains = data.consumeInt(1, 4);
        for (int c = 0; c < chains; c++) {
            Chain expected = model.next(false);
            long eventsBefore = ringEvents(counters);
            int before = ring.usedIndex();
            int got = ring.nextChain(false, MAX_BYTES);
            if (model.uncertain) {
                return; // the guest's tables lie where the device writes: the walk may rightly differ
            }
            if (expected == Chain.NONE) {
                assertEquals(SplitVirtqueue.EMPTY, got, "nothing offered");
                return;
            }
            if (expected == Chain.BROKEN) {
                assertEquals(SplitVirtqueue.FAILED, got, "the model refuses this chain");
                assertEquals(eventsBefore + 1, ringEvents(counters), "one event per broken ring: " + counters.nonZero());
                assertTrue(ring.broken());
                return;
            }
            if (expected.unmodelled) {
                if (got < 0) {
                    return; // longer than the model follows: either outcome, as long as memory is respected
                }
            } else {
                assertEquals(expected.total, got, "chain length");
            }
            ring.copyChainTo(sink.address());
            if (!expected.unmodelled) {
                byte[] copied = new byte[got];
                IO.getByteArray(sink.address(), copied, 0, got);
                assertArrayEquals(expected.bytes, copied, "bytes taken from the chain");
            }
            ring.consumeChain(0);
            ring.publish(before);
            model.consumed();
        }
    }

    /** Guest RX: one frame written into as many chains as it takes (mergeable) or one. */
    private static void deliverOne(FuzzedDataProvider data, SplitVirtqueue ring, VhostCounters counters, Model model,
            boolean mergeable) {
        int length = data.consumeInt(12, 9000);
        byte[] bytes = new byte[length];
        for (int i = 0; i < length; i++) {
            bytes[i] = (byte) (i * 31 + 7);
        }
        IO.putByteArray(frame.address(), bytes, 0, length);
        List<Chain> used = new ArrayList<>();
        boolean broken = false;
        boolean room = false;
        long total = 0;
        boolean unmodelled = false;
        while (true) {
            Chain c = model.next(true);
            unmodelled |= model.uncertain;
            if (c == Chain.NONE) {
                break;
            }
            if (c == Chain.BROKEN) {
                broken = true;
                break;
            }
            unmodelled |= c.unmodelled;
            if (!mergeable && !used.isEmpty()) {
                break; // the second chain is looked at, then the frame refused
            }
            used.add(c);
            model.consumed();
            total += c.total;
            if (total >= length) {
                room = true;
                break;
            }
        }
        long eventsBefore = ringEvents(counters);
        int before = ring.usedIndex();
        boolean delivered = ring.deliver(frame.address(), length, mergeable, MAX_BYTES);
        ring.publish(before);
        if (unmodelled) {
            return;
        }
        assertEquals(room && !broken, delivered, "delivered");
        assertEquals(broken && !room, ring.broken(), "ring broken");
        assertEquals(eventsBefore + (ring.broken() ? 1 : 0), ringEvents(counters), "events " + counters.nonZero());
        if (delivered) {
            byte[] expected = bytes.clone();
            expected[10] = (byte) used.size();
            expected[11] = (byte) (used.size() >>> 8);
            byte[] written = new byte[length];
            int at = 0;
            for (Chain c : used) {
                for (long[] s : c.segments) {
                    int n = (int) Math.min(s[1], length - at);
                    IO.getByteArray(region + s[0], written, at, n);
                    at += n;
                }
            }
            assertArrayEquals(expected, written, "bytes delivered into the guest's buffers");
        }
    }

    private static long ringEvents(VhostCounters counters) {
        long n = 0;
        for (VhostEvent e : RING_EVENTS) {
            n += counters.get(e);
        }
        return n;
    }

    // ---- what the guest wrote ----

    private static void writeGuestMemory(FuzzedDataProvider data, int size, int base) {
        IO.putByteArray(region, REGION_BYTES, 0, REGION_BYTES.length);
        for (int d = 0; d < size; d++) {
            writeDescriptor(data, region + DESC + 16L * d, size);
        }
        IO.putShort(region + AVAIL, (short) data.consumeInt(0, 1));
        int offered = data.consumeInt(0, 3) == 0 ? data.consumeInt(0, 0xffff) : data.consumeInt(0, size);
        IO.putShort(region + AVAIL + 2, (short) (base + offered));
        for (int i = 0; i < size; i++) {
            int head = data.consumeInt(0, 7) == 0 ? data.consumeInt(0, 0xffff) : data.consumeInt(0, size - 1);
            IO.putShort(region + AVAIL + 4 + 2L * i, (short) head);
        }
        IO.putShort(region + AVAIL + 4 + 2L * size, (short) data.consumeInt(0, 0xffff)); // used_event
        // Indirect tables and buffers: descriptors written as the guest likes, anywhere in the data area.
        int tables = data.consumeInt(0, 4);
        for (int t = 0; t < tables; t++) {
            int at = DATA + 16 * data.consumeInt(0, (int) (DECLARED - DATA) / 16 - 1);
            int entries = data.consumeInt(1, 16);
            for (int e = 0; e < entries && at + 16L * (e + 1) <= DECLARED; e++) {
                writeDescriptor(data, region + at + 16L * e, entries);
            }
        }
    }

    private static void writeDescriptor(FuzzedDataProvider data, long at, int tableSize) {
        long address = switch (data.consumeInt(0, 3)) {
            case 0 -> data.consumeLong();
            case 1 -> DECLARED - data.consumeInt(0, 4096);
            default -> DATA + data.consumeInt(0, (int) (DECLARED - DATA));
        };
        long length = data.consumeInt(0, 3) == 0 ? data.consumeInt() & 0xffffffffL : data.consumeInt(0, 4096);
        int flags = data.consumeInt(0, 7);
        int next = data.consumeInt(0, 7) == 0 ? data.consumeInt(0, 0xffff) : data.consumeInt(0, tableSize - 1);
        IO.putLong(at, address);
        IO.putInt(at + 8, (int) length);
        IO.putShort(at + 12, (short) flags);
        IO.putShort(at + 14, (short) next);
    }

    // ---- the model ----

    /** A chain as the model sees it: its buffers (region offset, length), total and bytes. */
    private static final class Chain {
        static final Chain NONE = new Chain();
        static final Chain BROKEN = new Chain();

        final List<long[]> segments = new ArrayList<>();
        long total;
        byte[] bytes;
        /** Longer than the model follows (over 1024 descriptors): both outcomes are allowed. */
        boolean unmodelled;
    }

    /**
     * The virtio 1.x split-ring rules, written from the specification: which chain comes next, and
     * whether a device may accept it. Reads guest memory as it is when asked.
     */
    private static final class Model {
        private final int size;
        private final boolean indirectAllowed;
        /** Guest memory the device reads as rings or tables, and the buffers it writes: (offset, length). */
        private final List<long[]> read = new ArrayList<>();
        private final List<long[]> written = new ArrayList<>();
        private int next;
        private boolean broken;
        /**
         * The device writes where it also reads (a table or buffer on the used ring, a device-writable
         * buffer on a table, the avail ring or another buffer): what it reads then depends on the order
         * of its own writes, which the model does not follow, so only the memory checks apply.
         */
        boolean uncertain;

        Model(int size, int base, boolean indirectAllowed) {
            this.size = size;
            this.next = base;
            this.indirectAllowed = indirectAllowed;
            read.add(new long[] {DESC, 16L * size});
            read.add(new long[] {AVAIL, 6L + 2L * size});
            written.add(new long[] {USED, DATA - USED});
        }

        private void reads(long offset, long length) {
            uncertain |= overlapsAny(offset, length, written);
            read.add(new long[] {offset, length});
        }

        private void writes(long offset, long length) {
            uncertain |= overlapsAny(offset, length, read) || overlapsAny(offset, length, written);
            written.add(new long[] {offset, length});
        }

        private static boolean overlapsAny(long offset, long length, List<long[]> ranges) {
            for (long[] r : ranges) {
                if (offset < r[0] + r[1] && r[0] < offset + length) {
                    return true;
                }
            }
            return false;
        }

        void consumed() {
            next = (next + 1) & 0xffff;
        }

        Chain next(boolean deviceWrites) {
            if (broken) {
                return Chain.NONE;
            }
            int offered = (u16(AVAIL + 2) - next) & 0xffff;
            if (offered > size) {
                return broke(); // the guest claims more entries than the ring has
            }
            if (offered == 0) {
                return Chain.NONE;
            }
            int head = u16(AVAIL + 4 + 2 * (next % size));
            if (head >= size) {
                return broke();
            }
            Chain chain = new Chain();
            long table = DESC;
            int tableSize = size;
            boolean inIndirect = false;
            int inTable = 0;
            int walked = 0;
            int i = head;
            while (true) {
                long d = table + 16L * i;
                long address = IO.getLong(region + d);
                long length = IO.getInt(region + d + 8) & 0xffffffffL;
                int flags = u16((int) d + 12);
                int nextIndex = u16((int) d + 14);
                if (++walked > SplitVirtqueue.MAX_CHAIN) {
                    chain.unmodelled = true;
                    return chain;
                }
                if (++inTable > tableSize) {
                    return broke(); // a loop
                }
                if ((flags & SplitVirtqueue.DESC_F_INDIRECT) != 0) {
                    boolean valid = indirectAllowed && !inIndirect && (flags & SplitVirtqueue.DESC_F_NEXT) == 0
                            && length > 0 && length % 16 == 0 && inRegion(address, length);
                    if (!valid) {
                        return broke();
                    }
                    table = address;
                    tableSize = (int) (length / 16);
                    reads(address, length);
                    inIndirect = true;
                    inTable = 0;
                    i = 0;
                    continue;
                }
                if (((flags & SplitVirtqueue.DESC_F_WRITE) != 0) != deviceWrites) {
                    return broke();
                }
                if (length > 0) {
                    if (!inRegion(address, length)) {
                        return broke();
                    }
                    chain.total += length;
                    if (chain.total > MAX_BYTES) {
                        return broke();
                    }
                    chain.segments.add(new long[] {address, length});
                    if (deviceWrites) {
                        writes(address, length);
                    } else {
                        reads(address, length);
                    }
                }
                if ((flags & SplitVirtqueue.DESC_F_NEXT) == 0) {
                    break;
                }
                if (nextIndex >= tableSize) {
                    return broke();
                }
                i = nextIndex;
            }
            chain.bytes = new byte[(int) chain.total];
            int at = 0;
            for (long[] s : chain.segments) {
                IO.getByteArray(region + s[0], chain.bytes, at, (int) s[1]);
                at += (int) s[1];
            }
            return chain;
        }

        private Chain broke() {
            broken = true;
            return Chain.BROKEN;
        }

        private static boolean inRegion(long address, long length) {
            return address >= 0 && address < DECLARED && length <= DECLARED - address;
        }

        private static int u16(int offset) {
            return IO.getShort(region + offset) & 0xffff;
        }
    }

    // ---- memory checks ----

    private static byte[] snapshot(int offset, int length) {
        byte[] out = new byte[length];
        IO.getByteArray(region + offset, out, 0, length);
        return out;
    }

    private static void fillCanary() {
        IO.putByteArray(file.address(), CANARY_BYTES, 0, CANARY_BYTES.length);
    }

    private static void assertCanaryIntact() {
        byte[] now = new byte[CANARY_BYTES.length];
        IO.getByteArray(file.address(), now, 0, now.length);
        assertArrayEquals(CANARY_BYTES, now, "memory below the guest region changed");
    }
}
