package io.vswitch.control;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Stopping the control server while clients are connected: their channels' last events must still
 * reach the command executor. It used to be shut down at the same time as the event loop, so the
 * loop's closing of the clients' channels raised RejectedExecutionException (logged with a stack
 * trace at the end of {@code ./vswitch demo}, about one run in five).
 */
class ControlServerShutdownTest {
    private static final ControlServer.Handler ECHO = (cmd, args) -> cmd;

    @TempDir
    Path dir;

    @Test
    void closingWithClientsConnectedRaisesNothingInTheEventLoops() throws IOException {
        PrintStream stderr = System.err;
        ByteArrayOutputStream logged = new ByteArrayOutputStream();
        System.setErr(new PrintStream(logged, true, StandardCharsets.UTF_8));
        try {
            for (int round = 0; round < 5; round++) {
                Path path = dir.resolve("s" + round + ".sock");
                List<SocketChannel> clients = new ArrayList<>();
                try (ControlServer server = new ControlServer(path, -1, Duration.ofSeconds(60), ECHO)) {
                    for (int i = 0; i < 8; i++) {
                        SocketChannel client = SocketChannel.open(UnixDomainSocketAddress.of(path));
                        clients.add(client);
                        client.write(ByteBuffer.wrap("{}\n".getBytes(StandardCharsets.UTF_8)));
                        assertTrue(client.read(ByteBuffer.allocate(4096)) > 0, "a reply: the client's pipeline is up");
                    }
                } finally {
                    for (SocketChannel client : clients) {
                        client.close();
                    }
                }
            }
        } finally {
            System.setErr(stderr);
        }
        String log = logged.toString(StandardCharsets.UTF_8);
        assertFalse(log.contains("RejectedExecutionException"), log);
    }
}
