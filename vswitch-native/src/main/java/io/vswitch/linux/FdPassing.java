package io.vswitch.linux;

/**
 * Messages with file descriptors attached ({@code SCM_RIGHTS}) on a unix stream socket, as the
 * vhost-user protocol passes memory regions and eventfds. Cold path (control messages only): one
 * instance per connection holds the {@code msghdr}, {@code iovec} and control buffer it reuses, and
 * belongs to the one thread that talks on that connection.
 *
 * <p>Layout (x86_64/aarch64, LP64): {@code struct msghdr} = name(8) namelen(4+4 pad) iov(8) iovlen(8)
 * control(8) controllen(8) flags(4+4 pad) = 56 bytes; {@code struct cmsghdr} = len(8) level(4) type(4),
 * then the ints.
 */
public final class FdPassing implements AutoCloseable {
    /** The most descriptors one message may carry (vhost-user: 8 memory regions). */
    public static final int MAX_FDS = 8;

    private static final LibC LIBC = LibC.INSTANCE;
    private static final int MSGHDR = 56;
    private static final int IOVEC = 16;
    private static final int CMSG_HEADER = 16;
    private static final int CONTROL = CMSG_HEADER + 4 * MAX_FDS;

    private final NativeBuffer scratch = new NativeBuffer(MSGHDR + IOVEC + CONTROL);
    private final int[] received = new int[MAX_FDS];
    private int receivedCount;

    /**
     * Receives up to {@code length} bytes into {@code buffer} and any descriptors sent with them; the
     * descriptors become this caller's to close ({@link #receivedFds()}). Descriptors beyond
     * {@link #MAX_FDS} are dropped by the kernel (MSG_CTRUNC) and counted as an error.
     *
     * @return bytes read, 0 at end of stream, -1 with errno on failure
     * @throws ErrnoException with EMSGSIZE when the peer sent more descriptors than fit
     */
    public long receive(int fd, long buffer, long length, int flags) throws ErrnoException {
        receivedCount = 0;
        long msg = prepare(buffer, length, CONTROL);
        long n = LIBC.recvmsg(fd, msg, flags | LibC.MSG_CMSG_CLOEXEC);
        if (n < 0) {
            return n;
        }
        long controlLength = scratch.getLong(40);
        if (controlLength >= CMSG_HEADER && scratch.getInt(MSGHDR + IOVEC + 8) == LibC.SOL_SOCKET
                && scratch.getInt(MSGHDR + IOVEC + 12) == LibC.SCM_RIGHTS) {
            long cmsgLen = scratch.getLong(MSGHDR + IOVEC);
            int count = (int) Math.min(MAX_FDS, Math.max(0, (cmsgLen - CMSG_HEADER) / 4));
            for (int i = 0; i < count; i++) {
                received[receivedCount++] = scratch.getInt(MSGHDR + IOVEC + CMSG_HEADER + 4L * i);
            }
        }
        if ((scratch.getInt(48) & LibC.MSG_CTRUNC) != 0) {
            closeReceived();
            throw new ErrnoException("recvmsg: more than " + MAX_FDS + " descriptors", LibC.EMSGSIZE);
        }
        return n;
    }

    /** How many descriptors the last {@link #receive} brought. */
    public int receivedCount() {
        return receivedCount;
    }

    /** The {@code i}th descriptor of the last {@link #receive}. */
    public int receivedFd(int i) {
        if (i < 0 || i >= receivedCount) {
            throw new IndexOutOfBoundsException(i);
        }
        return received[i];
    }

    /** Closes the descriptors of the last receive that nobody took. */
    public void closeReceived() {
        for (int i = 0; i < receivedCount; i++) {
            if (received[i] >= 0) {
                LIBC.close(received[i]);
            }
        }
        receivedCount = 0;
    }

    /** Marks descriptor {@code i} of the last receive as taken (it will not be closed by {@link #closeReceived}). */
    public int takeFd(int i) {
        int fd = receivedFd(i);
        received[i] = -1;
        return fd;
    }

    /**
     * Sends {@code length} bytes from {@code buffer} with {@code fds} attached (none when empty).
     *
     * @return bytes sent, or -1 with errno
     */
    public long send(int fd, long buffer, long length, int[] fds) {
        if (fds.length > MAX_FDS) {
            throw new IllegalArgumentException("at most " + MAX_FDS + " descriptors");
        }
        int controlLength = fds.length == 0 ? 0 : CMSG_HEADER + 4 * fds.length;
        long msg = prepare(buffer, length, controlLength);
        if (fds.length > 0) {
            // CMSG_SPACE rounds to 8; CMSG_LEN does not.
            scratch.putLong(40, (controlLength + 7) & ~7L);
            scratch.putLong(MSGHDR + IOVEC, controlLength);
            scratch.putInt(MSGHDR + IOVEC + 8, LibC.SOL_SOCKET);
            scratch.putInt(MSGHDR + IOVEC + 12, LibC.SCM_RIGHTS);
            for (int i = 0; i < fds.length; i++) {
                scratch.putInt(MSGHDR + IOVEC + CMSG_HEADER + 4L * i, fds[i]);
            }
        }
        return LIBC.sendmsg(fd, msg, LibC.MSG_NOSIGNAL);
    }

    private long prepare(long buffer, long length, int controlLength) {
        scratch.clear(0, scratch.size());
        long base = scratch.address();
        scratch.putLong(16, base + MSGHDR);
        scratch.putLong(24, 1);
        scratch.putLong(32, controlLength == 0 ? 0 : base + MSGHDR + IOVEC);
        scratch.putLong(40, controlLength);
        scratch.putLong(MSGHDR, buffer);
        scratch.putLong(MSGHDR + 8, length);
        return base;
    }

    @Override
    public void close() {
        closeReceived();
        scratch.close();
    }
}
