package io.vswitch.linux;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link SocketFile} on real unix sockets; no root needed. */
class SocketFileTest {
    private static final LibC LIBC = LibC.INSTANCE;

    @TempDir
    Path dir;

    @Test
    void aServedPathIsRefusedAndAStaleOneReplaced() throws IOException {
        Path path = dir.resolve("sub/a.sock");
        try (UnixAddress address = new UnixAddress(path)) {
            SocketFile first = SocketFile.bind("test", path, LibC.SOCK_DGRAM, address);
            assertTrue(SocketFile.served(LibC.SOCK_DGRAM, address), "a bound datagram socket is served");
            IOException inUse = assertThrows(IOException.class, () -> SocketFile.bind("test", path, LibC.SOCK_DGRAM, address));
            assertEquals(path + " is in use by another process: choose another --path", inUse.getMessage());

            LIBC.close(first.fd()); // the file stays behind, served by nobody: stale
            assertFalse(SocketFile.served(LibC.SOCK_DGRAM, address));
            SocketFile second = SocketFile.bind("test", path, LibC.SOCK_DGRAM, address);
            assertTrue(SocketFile.served(LibC.SOCK_DGRAM, address));
            second.remove();
            assertFalse(Files.exists(path));
            LIBC.close(second.fd());
        }
    }

    @Test
    void aFileThatIsNotASocketIsRefused() throws IOException {
        Path path = Files.writeString(dir.resolve("plain"), "not a socket");
        try (UnixAddress address = new UnixAddress(path)) {
            IOException e = assertThrows(IOException.class, () -> SocketFile.bind("test", path, LibC.SOCK_STREAM, address));
            assertEquals(path + " exists and is not a unix socket: remove it or choose another --path", e.getMessage());
            assertTrue(Files.exists(path), "the file is left alone");
        }
    }

    @Test
    void removeLeavesASocketFileThatIsNoLongerOurs() throws IOException {
        Path path = dir.resolve("b.sock");
        try (UnixAddress address = new UnixAddress(path)) {
            SocketFile ours = SocketFile.bind("test", path, LibC.SOCK_STREAM, address);
            LIBC.close(ours.fd());
            SocketFile newer = SocketFile.bind("test", path, LibC.SOCK_STREAM, address); // replaces the stale file
            ours.remove();
            assertTrue(Files.exists(path), "the newer process's socket file was removed");
            newer.remove();
            assertFalse(Files.exists(path));
            LIBC.close(newer.fd());
        }
    }
}
