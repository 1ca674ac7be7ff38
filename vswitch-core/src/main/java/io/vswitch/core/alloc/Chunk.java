package io.vswitch.core.alloc;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A block of direct memory that fragments are carved from, with a count of the frames still
 * living in it (the user-space {@code page_frag} page and its refcount).
 *
 * <p>Owned by one {@link FragAllocator}; touched only by the allocator's thread, so the live count
 * is a plain int. A chunk whose count is zero is reusable on the spot: nothing is returned to any
 * list.
 */
public final class Chunk {
    private final ByteBuffer buffer;
    private final long address;
    private int live;

    Chunk(int size, NativeAddress addresses) {
        this.buffer = ByteBuffer.allocateDirect(size).order(ByteOrder.BIG_ENDIAN);
        this.address = addresses.of(buffer);
    }

    /** The chunk's memory; absolute accesses only (the position is never used). */
    public ByteBuffer buffer() {
        return buffer;
    }

    /** Native address of byte 0, or 0 when the allocator was built without native access. */
    public long address() {
        return address;
    }

    public int capacity() {
        return buffer.capacity();
    }

    /** Frames currently carved from this chunk and not yet released. */
    public int live() {
        return live;
    }

    void retain() {
        live++;
    }

    /** Called by {@link io.vswitch.core.frame.Frame#release()}. */
    public void release() {
        if (live <= 0) {
            throw new IllegalStateException("chunk released more often than retained");
        }
        live--;
    }
}
