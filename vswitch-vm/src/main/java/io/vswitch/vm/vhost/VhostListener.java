package io.vswitch.vm.vhost;

import io.vswitch.linux.ErrnoException;
import io.vswitch.linux.LibC;
import io.vswitch.linux.SocketFile;
import io.vswitch.linux.UnixAddress;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.util.EnumSet;
import java.util.Set;

/**
 * The socket of a server-mode {@link VhostUserPort}: a {@link SocketFile} (stale sockets replaced, the
 * file removed on {@link #close()} only while still ours) listening, with the owner, group and mode
 * asked for, so QEMU can connect unprivileged.
 *
 * <p>Created and closed by the port's control thread owner ({@link VhostConnector}); the fd is
 * non-blocking and only accepted from on the control thread.
 */
final class VhostListener implements AutoCloseable {
    private static final LibC LIBC = LibC.INSTANCE;

    private final String portName;
    private final Path path;
    private final UnixAddress address;
    private final VhostUserPort.SocketAccess access;
    private final SocketFile file;

    /** Binds and listens on {@code path}, creating its directory if needed. */
    VhostListener(String portName, Path path, VhostUserPort.SocketAccess access) throws IOException {
        this.portName = portName;
        this.path = path;
        this.access = access;
        this.address = new UnixAddress(path);
        try {
            this.file = listen();
        } catch (IOException | RuntimeException e) {
            address.close();
            throw e;
        }
    }

    /** The listening fd, to watch for EPOLLIN. */
    int fd() {
        return file.fd();
    }

    /** A waiting front-end's connection (non-blocking, close-on-exec), or -1 when none is waiting. */
    int accept() {
        return LIBC.accept4(file.fd(), 0, 0, LibC.SOCK_NONBLOCK | LibC.SOCK_CLOEXEC);
    }

    /** Closes the socket and removes its file if it is still ours. */
    @Override
    public void close() {
        LIBC.close(file.fd());
        file.remove();
        address.close();
    }

    private SocketFile listen() throws IOException {
        SocketFile file = SocketFile.bind("port " + portName, path, LibC.SOCK_STREAM, address);
        try {
            applyAccess();
            if (LIBC.listen(file.fd(), 4) < 0) {
                throw ErrnoException.last("listen(" + path + ")");
            }
        } catch (IOException | RuntimeException e) {
            LIBC.close(file.fd());
            file.remove();
            throw e;
        }
        return file;
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
}
