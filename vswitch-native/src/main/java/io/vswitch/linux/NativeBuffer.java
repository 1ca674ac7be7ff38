package io.vswitch.linux;

import com.kenai.jffi.MemoryIO;
import java.util.Objects;

/**
 * A block of native (off-heap) memory with an explicit lifetime, for the {@code long}-address
 * calls of {@link LibC}.
 *
 * <p>Why not a direct {@code ByteBuffer}: its memory is freed only when the GC gets round to it,
 * and reading its address needs JDK internals. Here the creator owns the memory and must
 * {@link #close()} it; after that {@link #address()} is dangling, so close only once nothing (no
 * thread, no pending native call) can still use it. Accessors are bounds-checked but not
 * thread-safe. Memory is zeroed on allocation.
 */
public final class NativeBuffer implements AutoCloseable {

    private static final MemoryIO IO = MemoryIO.getInstance();

    private final long size;
    private long address;

    public NativeBuffer(long size) {
        if (size <= 0) {
            throw new IllegalArgumentException("size must be positive: " + size);
        }
        this.size = size;
        this.address = IO.allocateMemory(size, true);
        if (address == 0) {
            throw new OutOfMemoryError("native allocation of " + size + " bytes failed");
        }
    }

    /** The start address; valid until {@link #close()}. */
    public long address() {
        return checkOpen();
    }

    public long size() {
        return size;
    }

    public short getShort(long offset) {
        return IO.getShort(at(offset, 2));
    }

    public void putShort(long offset, short value) {
        IO.putShort(at(offset, 2), value);
    }

    public int getInt(long offset) {
        return IO.getInt(at(offset, 4));
    }

    public void putInt(long offset, int value) {
        IO.putInt(at(offset, 4), value);
    }

    public long getLong(long offset) {
        return IO.getLong(at(offset, 8));
    }

    public void putLong(long offset, long value) {
        IO.putLong(at(offset, 8), value);
    }

    public void put(long offset, byte[] src, int srcOffset, int length) {
        Objects.checkFromIndexSize(srcOffset, length, src.length);
        IO.putByteArray(at(offset, length), src, srcOffset, length);
    }

    public void get(long offset, byte[] dst, int dstOffset, int length) {
        Objects.checkFromIndexSize(dstOffset, length, dst.length);
        IO.getByteArray(at(offset, length), dst, dstOffset, length);
    }

    /** Zeroes {@code length} bytes from {@code offset}. */
    public void clear(long offset, long length) {
        IO.setMemory(at(offset, length), length, (byte) 0);
    }

    /** Frees the memory; idempotent. */
    @Override
    public void close() {
        if (address != 0) {
            IO.freeMemory(address);
            address = 0;
        }
    }

    private long at(long offset, long length) {
        Objects.checkFromIndexSize(offset, length, size);
        return checkOpen() + offset;
    }

    private long checkOpen() {
        if (address == 0) {
            throw new IllegalStateException("native buffer already closed");
        }
        return address;
    }
}
