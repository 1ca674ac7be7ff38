package io.vswitch.linux;

import com.kenai.jffi.MemoryIO;
import io.vswitch.core.alloc.NativeAddress;
import java.nio.ByteBuffer;

/** Native addresses of direct buffers through jffi, so allocator chunks can be read and written by fd calls. */
public final class DirectAddress implements NativeAddress {
    public static final DirectAddress INSTANCE = new DirectAddress();

    private DirectAddress() {
    }

    @Override
    public long of(ByteBuffer direct) {
        long address = MemoryIO.getInstance().getDirectBufferAddress(direct);
        if (address == 0) {
            throw new IllegalArgumentException("not a direct buffer");
        }
        return address;
    }
}
