package io.vswitch.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.linux.LibC;
import io.vswitch.linux.SocketFile;
import io.vswitch.linux.UnixAddress;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The control socket's file: a second daemon on the same path is refused instead of taking the socket
 * from the first (which used to delete it and bind its own), and a daemon that stops removes the file
 * only while it is still its own. Both were seen with two daemons given one --socket.
 */
class ControlSocketFileTest {
    private static final ControlServer.Handler ECHO = (cmd, args) -> cmd;

    @TempDir
    Path dir;

    @Test
    void aSecondServerOnAServedPathIsRefusedAndTheFirstKeepsItsSocket() throws IOException {
        Path path = dir.resolve("vswitchd.sock");
        try (ControlServer first = new ControlServer(path, -1, Duration.ofSeconds(60), ECHO)) {
            IOException e = assertThrows(IOException.class, () -> new ControlServer(path, -1, Duration.ofSeconds(60), ECHO));
            assertEquals(path + " is in use by another process: stop that vswitchd or choose another --socket", e.getMessage());
            try (UnixAddress address = new UnixAddress(path)) {
                assertTrue(SocketFile.served(LibC.SOCK_STREAM, address), "the first server lost its socket");
            }
        }
        assertFalse(Files.exists(path), "a stopped server leaves its socket file behind");
    }

    @Test
    void aStoppingServerLeavesASocketFileThatIsNoLongerItsOwn() throws IOException {
        Path path = dir.resolve("vswitchd.sock");
        ControlServer old = new ControlServer(path, -1, Duration.ofSeconds(60), ECHO);
        Files.delete(path); // as if another daemon had replaced it ...
        try (UnixAddress address = new UnixAddress(path)) {
            SocketFile newer = SocketFile.bind("test", path, LibC.SOCK_STREAM, address); // ... with its own
            old.close();
            assertTrue(Files.exists(path), "the stopping server deleted the newer daemon's socket file");
            newer.remove();
            LibC.INSTANCE.close(newer.fd());
        }
    }
}
