package io.vswitch.core.frame;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class FrameBatchTest {

    @Test
    void aBatchHoldsAtMostItsLimit() {
        FrameBatch batch = new FrameBatch(4);
        assertEquals(4, batch.limit(), "the limit starts at the capacity");
        batch.limit(2);
        fill(batch);
        assertEquals(2, batch.count());
        batch.clear();
        batch.limit(4);
        fill(batch);
        assertEquals(4, batch.count());
        assertEquals(4, batch.capacity());
    }

    @Test
    void aLimitOutsideOneToCapacityIsRefused() {
        FrameBatch batch = new FrameBatch(4);
        assertThrows(IllegalArgumentException.class, () -> batch.limit(0));
        assertThrows(IllegalArgumentException.class, () -> batch.limit(5));
        assertEquals(4, batch.limit());
    }

    private static void fill(FrameBatch batch) {
        Frame frame;
        int guard = 0;
        while ((frame = batch.next()) != null && guard++ < 100) {
            assertNotNull(frame);
            batch.commit();
        }
        assertNull(batch.next());
    }
}
