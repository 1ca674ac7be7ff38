package io.vswitch.core.alloc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.management.ThreadMXBean;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameLeaks;
import io.vswitch.core.frame.VnetHeader;
import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.Test;

class FragAllocatorTest {
    private final FragAllocator allocator = new FragAllocator(64 * 1024, 4, 2, NativeAddress.NONE);

    @Test
    void headroomLeavesRoomForVnetTagAndVxlanAndAlignsTheIpHeader() {
        assertTrue(FragAllocator.HEADROOM >= VnetHeader.SIZE + 4 + 70);
        Frame f = new Frame();
        for (int len : new int[] {60, 100, 1514}) {
            assertTrue(allocator.allocate(f, len));
            assertEquals(FragAllocator.HEADROOM, f.headroom());
            assertEquals(0, f.fragmentStart() % FragAllocator.ALIGN);
            assertEquals(0, (f.start() + 14) % 4, "IP header must be 4-byte aligned");
            f.release();
        }
    }

    @Test
    void allocatingIntoAFrameThatStillHoldsAFragmentIsAnError() {
        Frame f = new Frame();
        assertTrue(allocator.allocate(f, 60));
        Chunk held = f.chunk();
        assertThrows(IllegalStateException.class, () -> allocator.allocate(f, 60));
        assertSame(held, f.chunk(), "the frame keeps its fragment");
        assertEquals(1, held.live(), "the refused allocation took nothing");
        f.release();
        assertEquals(0, held.live());
        assertTrue(allocator.allocate(f, 60));
        f.release();
    }

    @Test
    void fragmentsAreCarvedConsecutivelyAndAligned() {
        Frame a = new Frame();
        Frame b = new Frame();
        assertTrue(allocator.allocate(a, 60));
        assertTrue(allocator.allocate(b, 60));
        assertSame(a.chunk(), b.chunk());
        assertEquals(FragAllocator.align(FragAllocator.HEADROOM + 60), b.fragmentStart() - a.fragmentStart());
        assertEquals(2, a.chunk().live());
        a.release();
        b.release();
        assertFalse(a.attached());
    }

    @Test
    void chunkIsReusedInPlaceOnceItsCountDropsToZero() {
        Frame f = new Frame();
        assertTrue(allocator.allocate(f, 1500));
        Chunk first = f.chunk();
        int firstStart = f.fragmentStart();
        f.release();
        for (int i = 0; i < 10_000; i++) {
            assertTrue(allocator.allocate(f, 1500));
            assertSame(first, f.chunk());
            assertEquals(firstStart, f.fragmentStart());
            f.release();
        }
        assertEquals(1, allocator.chunkCount());
    }

    @Test
    void capIsEnforcedWithoutBlockingAndCounted() {
        Frame[] held = new Frame[4 * 32];
        for (int i = 0; i < held.length; i++) {
            held[i] = new Frame();
            assertTrue(allocator.allocate(held[i], 1900), "fragment " + i);
        }
        Frame extra = new Frame();
        assertFalse(allocator.allocate(extra, 60));
        assertEquals(1, allocator.exhausted());
        assertEquals(4, allocator.chunkCount());
        held[7].release();
        assertFalse(allocator.allocate(extra, 60), "a chunk with live frames is not reused");
        for (int i = 0; i < 32; i++) {
            if (held[i].attached()) {
                held[i].release();
            }
        }
        assertTrue(allocator.allocate(extra, 60), "a drained chunk is reused");
        extra.release();
        for (Frame frame : held) {
            if (frame.attached()) {
                frame.release();
            }
        }
        assertEquals(0, allocator.liveFrames());
    }

    @Test
    void largeFramesTakeTheLargePathUpFront() {
        Frame f = new Frame();
        assertTrue(allocator.allocate(f, 65_000));
        assertEquals(FragAllocator.HEADROOM, f.headroom());
        assertTrue(f.capacity() >= FragAllocator.MAX_LARGE_FRAME);
        Frame g = new Frame();
        assertTrue(allocator.allocate(g, 9000));
        assertNotSame(f.chunk(), g.chunk());
        Frame h = new Frame();
        assertFalse(allocator.allocate(h, 9000), "only two large buffers");
        f.release();
        assertTrue(allocator.allocate(h, 9000));
        assertEquals(2, allocator.largeCount());
        g.release();
        h.release();
    }

    @Test
    void reservedReadTrimsTheFragmentTail() {
        Frame f = new Frame();
        assertTrue(allocator.reserve(f));
        assertEquals(FragAllocator.MAX_FRAGMENT_FRAME, f.capacity());
        allocator.completeRead(f, VnetHeader.SIZE, VnetHeader.SIZE + 60, null);
        assertEquals(60, f.length());
        Frame g = new Frame();
        assertTrue(allocator.allocate(g, 60));
        assertEquals(FragAllocator.align(FragAllocator.HEADROOM + 60), g.fragmentStart() - f.fragmentStart());
        f.release();
        g.release();
    }

    @Test
    void jumboReservationsAreCarvedFromChunksSevenToAChunk() {
        Frame[] jumbo = new Frame[8];
        for (int i = 0; i < jumbo.length; i++) {
            jumbo[i] = new Frame();
            assertTrue(allocator.reserve(jumbo[i], 8968));
            assertTrue(jumbo[i].capacity() >= 8968);
            assertEquals(FragAllocator.HEADROOM, jumbo[i].headroom());
        }
        assertSame(jumbo[0].chunk(), jumbo[6].chunk(), "9088-byte fragments: seven fit 64 KiB");
        assertNotSame(jumbo[6].chunk(), jumbo[7].chunk());
        assertEquals(0, allocator.largeCount(), "no large buffer taken");
        jumbo[7].setLength(100);
        allocator.trim(jumbo[7]);
        Frame next = new Frame();
        assertTrue(allocator.allocate(next, 60));
        assertSame(jumbo[7].chunk(), next.chunk(), "the trimmed tail is carved again");
        assertEquals(FragAllocator.align(FragAllocator.HEADROOM + 100), next.fragmentStart() - jumbo[7].fragmentStart());
        next.release();
        for (Frame f : jumbo) {
            f.release();
        }
        assertThrows(IllegalArgumentException.class, () -> allocator.reserve(new Frame(), 64 * 1024), "more than a chunk");
    }

    @Test
    void theLongestReservableFrameFillsAChunk() {
        assertEquals(FragAllocator.DEFAULT_CHUNK_SIZE - FragAllocator.HEADROOM, allocator.maxReservable());
        Frame whole = new Frame();
        assertTrue(allocator.reserve(whole, allocator.maxReservable()));
        assertEquals(allocator.maxReservable(), whole.capacity());
        whole.release();
        int oneMore = allocator.maxReservable() + 1;
        assertThrows(IllegalArgumentException.class, () -> allocator.reserve(new Frame(), oneMore));
    }

    @Test
    void overflowingReadMovesToTheLargeBufferWithItsHeader() {
        Frame f = new Frame();
        assertTrue(allocator.reserve(f));
        Chunk spare = allocator.spareLarge();
        assertNotNull(spare);
        int total = 20_000;
        // Simulate readv: [vnet header + fragment] then the rest into the spare buffer.
        int inFragment = VnetHeader.SIZE + f.capacity();
        for (int i = 0; i < inFragment; i++) {
            f.buffer().put(f.start() - VnetHeader.SIZE + i, (byte) i);
        }
        for (int i = inFragment; i < total; i++) {
            spare.buffer().put(FragAllocator.LARGE_OVERFLOW_OFFSET + i - inFragment, (byte) i);
        }
        Chunk fragmentChunk = f.chunk();
        allocator.completeRead(f, VnetHeader.SIZE, total, spare);
        assertSame(spare, f.chunk());
        assertEquals(0, fragmentChunk.live());
        Frame next = new Frame();
        assertTrue(allocator.allocate(next, 60));
        assertEquals(0, next.fragmentStart(), "the fragment given back is carved again");
        assertEquals(total - VnetHeader.SIZE, f.length());
        for (int i = 0; i < total; i++) {
            assertEquals((byte) i, f.buffer().get(f.start() - VnetHeader.SIZE + i), "byte " + i);
        }
        f.release();
        next.release();
    }

    @Test
    void steadyStateAllocatesNothingOnTheHeap() throws Exception {
        ThreadMXBean threads = (ThreadMXBean) ManagementFactory.getThreadMXBean();
        Frame[] batch = new Frame[64];
        for (int i = 0; i < batch.length; i++) {
            batch[i] = new Frame();
        }
        try (AutoCloseable paused = FrameLeaks.pause()) { // recording a leak site allocates
            for (int warm = 0; warm < 2; warm++) {
                cycle(batch, 20_000);
            }
            long before = threads.getCurrentThreadAllocatedBytes();
            cycle(batch, 100_000);
            long allocated = threads.getCurrentThreadAllocatedBytes() - before;
            assertTrue(allocated < 1024, "allocated " + allocated + " bytes for 6.4M frames");
        }
    }

    private void cycle(Frame[] batch, int rounds) {
        for (int r = 0; r < rounds; r++) {
            for (Frame f : batch) {
                allocator.allocate(f, 60 + (r & 1023));
            }
            for (Frame f : batch) {
                f.release();
            }
        }
    }
}
