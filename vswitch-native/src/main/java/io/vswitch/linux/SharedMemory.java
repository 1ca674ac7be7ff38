package io.vswitch.linux;

/**
 * A {@code MAP_SHARED} read-write mapping of a file descriptor (a guest's memory region, a memfd).
 * The mapping stays valid after the fd is closed. Whoever maps it owns it and must {@link #close()}
 * it only once no thread can still touch its addresses: after unmapping, an access is a crash, not
 * an exception.
 */
public final class SharedMemory implements AutoCloseable {
    private static final LibC LIBC = LibC.INSTANCE;
    /** {@code struct stat} on Linux x86-64 and arm64: 144 and 128 bytes, {@code st_size} at 48 in both. */
    private static final int STAT_SIZE = 144;
    private static final int STAT_ST_SIZE = 48;

    private final long address;
    private final long length;
    private boolean closed;

    private SharedMemory(long address, long length) {
        this.address = address;
        this.length = length;
    }

    /** Maps {@code length} bytes of {@code fd} from offset 0. */
    public static SharedMemory map(int fd, long length) throws ErrnoException {
        if (length <= 0) {
            throw new IllegalArgumentException("length must be positive: " + length);
        }
        jnr.ffi.Pointer mapped = LIBC.mmap(null, length, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_SHARED, fd, 0);
        long at = mapped == null ? LibC.MAP_FAILED : mapped.address();
        if (at == LibC.MAP_FAILED) {
            throw new ErrnoException("mmap(" + length + " bytes)", LibC.errno());
        }
        return new SharedMemory(at, length);
    }

    /** A new anonymous memfd of {@code length} bytes (for tests that play a guest); the caller closes it. */
    public static int createMemfd(String name, long length) throws ErrnoException {
        int fd = LIBC.memfd_create(name, LibC.MFD_CLOEXEC);
        if (fd < 0) {
            throw new ErrnoException("memfd_create", LibC.errno());
        }
        if (LIBC.ftruncate(fd, length) < 0) {
            int errno = LibC.errno();
            LIBC.close(fd);
            throw new ErrnoException("ftruncate", errno);
        }
        return fd;
    }

    /**
     * Size in bytes of the file {@code fd} refers to. A {@code MAP_SHARED} mapping may be longer than
     * its file, but touching a page past the end raises SIGBUS: check before mapping what another
     * process sized.
     */
    public static long fileSize(int fd) throws ErrnoException {
        try (NativeBuffer stat = new NativeBuffer(STAT_SIZE)) {
            if (LIBC.fstat(fd, stat.address()) < 0) {
                throw new ErrnoException("fstat", LibC.errno());
            }
            return stat.getLong(STAT_ST_SIZE);
        }
    }

    public long address() {
        return address;
    }

    public long length() {
        return length;
    }

    /** Unmaps; idempotent. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            LIBC.munmap(address, length);
        }
    }
}
