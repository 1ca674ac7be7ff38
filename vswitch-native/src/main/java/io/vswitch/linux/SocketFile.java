package io.vswitch.linux;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A unix socket file this process serves (a VM port's socket, a vhost-user server socket).
 * {@link #bind} creates the directory if needed, replaces a stale socket file that no process serves
 * any more, refuses a path that another process still serves or that is not a socket, and binds a new
 * non-blocking socket there. {@link #remove} deletes the file only while it is still the one bound here,
 * not one a newer process made at the same path since.
 *
 * <p>The fd belongs to the caller, who closes it; this object only remembers which file is ours.
 * Used by the thread that owns the port's set-up and teardown.
 */
public final class SocketFile {
    private static final Logger LOG = LoggerFactory.getLogger(SocketFile.class);
    private static final LibC LIBC = LibC.INSTANCE;

    private final String owner;
    private final Path path;
    private final int fd;
    private Object fileKey;

    private SocketFile(String owner, Path path, int fd, Object fileKey) {
        this.owner = owner;
        this.path = path;
        this.fd = fd;
        this.fileKey = fileKey;
    }

    /**
     * Binds a new non-blocking, close-on-exec unix socket of {@code type} (SOCK_STREAM, SOCK_DGRAM) to
     * {@code address}, which names {@code path}.
     *
     * @param owner who binds it, for the log line about a replaced stale socket (e.g. "port vm0")
     */
    public static SocketFile bind(String owner, Path path, int type, UnixAddress address) throws IOException {
        Path dir = path.getParent();
        if (dir != null && !Files.isDirectory(dir)) {
            Files.createDirectories(dir);
        }
        replaceStale(owner, path, type, address);
        int fd = LIBC.socket(LibC.AF_UNIX, type | LibC.SOCK_NONBLOCK | LibC.SOCK_CLOEXEC, 0);
        if (fd < 0) {
            throw ErrnoException.last("socket(AF_UNIX)");
        }
        if (LIBC.bind(fd, address.address(), address.length()) < 0) {
            int errno = LibC.errno();
            LIBC.close(fd);
            throw new IOException("cannot bind " + path + ": " + new ErrnoException("bind", errno).getMessage());
        }
        return new SocketFile(owner, path, fd, fileKey(path));
    }

    /** The bound socket. */
    public int fd() {
        return fd;
    }

    /**
     * Whether some socket is bound at {@code address}: a fresh socket of {@code type} connects to it
     * (sending nothing). EAGAIN (a stream listener whose backlog is full) and, for datagram sockets,
     * EPERM (connected to a third socket) also mean someone is there.
     */
    public static boolean served(int type, UnixAddress address) {
        int probe = LIBC.socket(LibC.AF_UNIX, type | LibC.SOCK_NONBLOCK | LibC.SOCK_CLOEXEC, 0);
        if (probe < 0) {
            return false;
        }
        try {
            if (LIBC.connect(probe, address.address(), address.length()) == 0) {
                return true;
            }
            int errno = LibC.errno();
            return errno == LibC.EPERM || errno == LibC.EAGAIN;
        } finally {
            LIBC.close(probe);
        }
    }

    /** Deletes the socket file if it is still the one bound here; idempotent. The fd stays open. */
    public void remove() {
        if (fileKey == null) {
            return;
        }
        try {
            if (fileKey.equals(fileKey(path))) {
                Files.deleteIfExists(path);
            }
        } catch (IOException e) {
            LOG.warn("{}: cannot remove {}: {}", owner, path, e.getMessage());
        }
        fileKey = null;
    }

    /**
     * Makes {@code path} free to bind: nothing there, or a stale socket file no process serves any
     * more, which is deleted. Refuses a file that is not a socket, and a socket another process still
     * serves (two processes must not take turns at one path).
     */
    private static void replaceStale(String owner, Path path, int type, UnixAddress address) throws IOException {
        BasicFileAttributes attrs;
        try {
            attrs = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return;
        }
        if (!attrs.isOther() || !isSocket(path)) {
            throw new IOException(path + " exists and is not a unix socket: remove it or choose another --path");
        }
        if (served(type, address)) {
            throw new IOException(path + " is in use by another process: choose another --path");
        }
        Files.deleteIfExists(path);
        LOG.info("{}: removed stale socket {}", owner, path);
    }

    private static boolean isSocket(Path path) throws IOException {
        int mode = (Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        return (mode & 0170000) == 0140000;
    }

    /**
     * What tells our socket file from one made later at the same path: device and inode, which a file
     * system hands out again once a file is deleted (the inode alone took a newer socket for ours in
     * {@code SocketFileTest}), with the modification time bind sets (nanoseconds apart here on ext4; two
     * sockets bound at one path within one timestamp tick of a coarser file system would still look alike).
     */
    private static Object fileKey(Path path) throws IOException {
        try {
            BasicFileAttributes attrs = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            return List.of(attrs.fileKey(), attrs.lastModifiedTime());
        } catch (NoSuchFileException e) {
            return null;
        }
    }
}
