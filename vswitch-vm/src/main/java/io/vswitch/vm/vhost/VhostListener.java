package io.vswitch.vm.vhost;

import io.vswitch.linux.ErrnoException;
import io.vswitch.linux.LibC;
import io.vswitch.linux.UnixAddress;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.util.EnumSet;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The socket file of a server-mode {@link VhostUserPort}: bound and listening, with the owner, group and
 * mode asked for, so QEMU can connect unprivileged. A stale socket left by a dead switch is replaced;
 * one another process still serves, or a file that is not a socket, is refused. On {@link #close()} the
 * file is removed only if it is still the one this listener bound (not one a newer process made since).
 *
 * <p>Created and closed by the port's control thread owner ({@link VhostConnector}); the fd is
 * non-blocking and only accepted from on the control thread.
 */
final class VhostListener implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(VhostListener.class);
    private static final LibC LIBC = LibC.INSTANCE;

    private final String portName;
    private final Path path;
    private final UnixAddress address;
    private final VhostUserPort.SocketAccess access;
    private final int fd;
    private Object socketFileKey;

    /** Binds and listens on {@code path}, creating its directory if needed. */
    VhostListener(String portName, Path path, VhostUserPort.SocketAccess access) throws IOException {
        this.portName = portName;
        this.path = path;
        this.access = access;
        this.address = new UnixAddress(path);
        try {
            this.fd = listen();
        } catch (IOException | RuntimeException e) {
            address.close();
            throw e;
        }
    }

    /** The listening fd, to watch for EPOLLIN. */
    int fd() {
        return fd;
    }

    /** A waiting front-end's connection (non-blocking, close-on-exec), or -1 when none is waiting. */
    int accept() {
        return LIBC.accept4(fd, 0, 0, LibC.SOCK_NONBLOCK | LibC.SOCK_CLOEXEC);
    }

    /** Closes the socket and removes its file if it is still ours. */
    @Override
    public void close() {
        LIBC.close(fd);
        removeSocketFile();
        address.close();
    }

    private int listen() throws IOException {
        Path dir = path.getParent();
        if (dir != null && !Files.isDirectory(dir)) {
            Files.createDirectories(dir);
        }
        removeStaleSocket();
        int fd = LIBC.socket(LibC.AF_UNIX, LibC.SOCK_STREAM | LibC.SOCK_NONBLOCK | LibC.SOCK_CLOEXEC, 0);
        if (fd < 0) {
            throw new ErrnoException("socket(AF_UNIX)", LibC.errno());
        }
        if (LIBC.bind(fd, address.address(), address.length()) < 0) {
            int errno = LibC.errno();
            LIBC.close(fd);
            throw new IOException("cannot bind " + path + ": " + new ErrnoException("bind", errno).getMessage());
        }
        socketFileKey = fileKey(path);
        try {
            applyAccess();
            if (LIBC.listen(fd, 4) < 0) {
                throw new ErrnoException("listen(" + path + ")", LibC.errno());
            }
        } catch (IOException | RuntimeException e) {
            LIBC.close(fd);
            removeSocketFile();
            throw e;
        }
        return fd;
    }

    private void applyAccess() throws IOException {
        // Following links on purpose: without, the JDK opens the file to fchmod it, which a socket refuses (ENXIO).
        // The path is the socket this port just bound.
        PosixFileAttributeView view = Files.getFileAttributeView(path, PosixFileAttributeView.class);
        UserPrincipalLookupService users = path.getFileSystem().getUserPrincipalLookupService();
        try {
            if (access.owner() != null) {
                view.setOwner(users.lookupPrincipalByName(access.owner()));
            }
            if (access.group() != null) {
                GroupPrincipal group = users.lookupPrincipalByGroupName(access.group());
                view.setGroup(group);
            }
        } catch (IOException e) {
            throw new IOException("cannot give " + path + " owner " + access.owner() + " / group " + access.group()
                    + ": " + e.getMessage() + " (does the user/group exist, and does vswitchd run as root?)", e);
        }
        if (access.mode() != null) {
            view.setPermissions(permissions(access.mode()));
        }
    }

    /** Parses an octal mode like {@code 0660}. */
    static Set<PosixFilePermission> permissions(String octal) {
        int bits;
        try {
            bits = Integer.parseInt(octal, 8);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("socket mode '" + octal + "' is not octal: write it like 0660");
        }
        if (bits < 0 || bits > 0777) {
            throw new IllegalArgumentException("socket mode '" + octal + "' is out of range: use 0000-0777");
        }
        PosixFilePermission[] all = PosixFilePermission.values(); // OWNER_READ .. OTHERS_EXECUTE, high bit first
        Set<PosixFilePermission> out = EnumSet.noneOf(PosixFilePermission.class);
        for (int i = 0; i < 9; i++) {
            if ((bits & (1 << (8 - i))) != 0) {
                out.add(all[i]);
            }
        }
        return out;
    }

    private void removeStaleSocket() throws IOException {
        BasicFileAttributes attrs;
        try {
            attrs = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return;
        }
        if (!attrs.isOther()) {
            throw new IOException(path + " exists and is not a unix socket: remove it or choose another --path");
        }
        int probe = LIBC.socket(LibC.AF_UNIX, LibC.SOCK_STREAM | LibC.SOCK_NONBLOCK | LibC.SOCK_CLOEXEC, 0);
        try {
            if (probe >= 0 && (LIBC.connect(probe, address.address(), address.length()) == 0 || LibC.errno() == LibC.EAGAIN)) {
                throw new IOException(path + " is in use by another process: choose another --path");
            }
        } finally {
            if (probe >= 0) {
                LIBC.close(probe);
            }
        }
        Files.deleteIfExists(path);
        LOG.info("port {}: removed stale socket {}", portName, path);
    }

    private void removeSocketFile() {
        if (socketFileKey == null) {
            return;
        }
        try {
            if (socketFileKey.equals(fileKey(path))) {
                Files.deleteIfExists(path);
            }
        } catch (IOException e) {
            LOG.warn("port {}: cannot remove {}: {}", portName, path, e.getMessage());
        }
        socketFileKey = null;
    }

    private static Object fileKey(Path path) throws IOException {
        try {
            return Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
        } catch (NoSuchFileException e) {
            return null;
        }
    }
}
