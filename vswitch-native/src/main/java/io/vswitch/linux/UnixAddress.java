package io.vswitch.linux;

import com.kenai.jffi.MemoryIO;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * A {@code struct sockaddr_un} for a filesystem path, in native memory: {@code sa_family_t} (2 bytes,
 * AF_UNIX) then the NUL-terminated path in a 108-byte field. Owned by its creator, freed by
 * {@link #close()}.
 */
public final class UnixAddress implements AutoCloseable {
    private static final MemoryIO IO = MemoryIO.getInstance();

    /** sizeof(struct sockaddr_un). */
    public static final int SIZE = 110;
    /** Longest path the kernel takes (108 bytes with the NUL). */
    public static final int MAX_PATH_BYTES = 107;

    private final NativeBuffer buffer = new NativeBuffer(SIZE);
    private final byte[] pathBytes;
    private final int length;

    public UnixAddress(Path path) {
        this.pathBytes = pathBytes(path);
        buffer.putShort(0, (short) LibC.AF_UNIX);
        buffer.put(2, pathBytes, 0, pathBytes.length);
        this.length = 2 + pathBytes.length + 1;
    }

    /** The path as the kernel sees it; rejects paths the kernel cannot bind. */
    public static byte[] pathBytes(Path path) {
        byte[] bytes = path.toString().getBytes(StandardCharsets.UTF_8);
        if (bytes.length == 0 || bytes.length > MAX_PATH_BYTES) {
            throw new IllegalArgumentException("unix socket path " + path + " is " + bytes.length
                    + " bytes long: the kernel takes 1-" + MAX_PATH_BYTES + " (use a shorter directory)");
        }
        for (byte b : bytes) {
            if (b == 0) {
                throw new IllegalArgumentException("unix socket path " + path + " contains a NUL byte");
            }
        }
        return bytes;
    }

    public long address() {
        return buffer.address();
    }

    /** The address length to pass with it: family + path + NUL. */
    public int length() {
        return length;
    }

    /**
     * Whether the {@code sockaddr_un} of {@code len} bytes at {@code other} (e.g. the sender of a
     * datagram, as recvmsg filled it) names the same path. Allocation-free.
     *
     * @param other address of the other sockaddr_un
     */
    public boolean sameAs(long other, int len) {
        // Linux reports the bound path with or without its NUL depending on how it was bound.
        int pathLen = len - 2;
        if (pathLen == pathBytes.length + 1 && IO.getByte(other + 2 + pathBytes.length) == 0) {
            pathLen--;
        }
        if (pathLen != pathBytes.length || IO.getShort(other) != LibC.AF_UNIX) {
            return false;
        }
        for (int i = 0; i < pathLen; i++) {
            if (IO.getByte(other + 2 + i) != pathBytes[i]) {
                return false;
            }
        }
        return true;
    }

    @Override
    public void close() {
        buffer.close();
    }
}
