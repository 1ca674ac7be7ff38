package io.vswitch.vm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.frame.FrameBatch;
import java.util.List;

/** Checks on a batch a test holds unreleased, as a datapath thread holds one while it forwards. */
final class HeldBatch {
    private HeldBatch() {
    }

    /**
     * All of {@code sent} arrived in {@code batch}, byte for byte and in order, and none of it needed
     * a large buffer or was refused by the queue's allocator.
     */
    static void assertWholeInFragments(List<byte[]> sent, FrameBatch batch, FragAllocator allocator) {
        assertEquals(sent.size(), batch.count(), "frames received into one batch while it is held");
        for (int i = 0; i < sent.size(); i++) {
            assertArrayEquals(sent.get(i), batch.get(i).toBytes(), "frame " + i);
        }
        assertEquals(0, allocator.exhausted(), "allocations refused");
        assertEquals(0, allocator.largeCount(), "large buffers taken");
    }

    /** Releases every frame the batch holds. */
    static void release(FrameBatch batch) {
        for (int i = 0; i < batch.count(); i++) {
            batch.get(i).release();
        }
    }
}
