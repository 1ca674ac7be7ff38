package io.vswitch.core.alloc;

import java.nio.ByteBuffer;

/**
 * Finds the native address of a direct buffer. Core has no native access of its own; the port
 * modules pass one in so that reads and writes on file descriptors can land in chunk memory.
 */
@FunctionalInterface
public interface NativeAddress {
    /** For allocators whose memory is never handed to native code (tests, pure in-process use). */
    NativeAddress NONE = buffer -> 0L;

    long of(ByteBuffer direct);
}
