package io.vswitch.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
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
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
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

    /**
     * A command still running when the server is told to stop finishes and its reply reaches the client
     * before the connection closes. With the event loop stopped after a fixed quiet period, a command
     * slower than that period lost its reply (the client read end of stream).
     */
    @Test
    void aCommandRunningWhenTheServerStopsStillGetsItsReply() throws Exception {
        CountDownLatch running = new CountDownLatch(1);
        ControlServer.Handler slow = (cmd, args) -> {
            running.countDown();
            sleep(SLOW_COMMAND);
            return "done " + cmd;
        };
        Path path = dir.resolve("slow.sock");
        ControlServer server = new ControlServer(path, -1, Duration.ofSeconds(60), slow);
        try (SocketChannel client = SocketChannel.open(UnixDomainSocketAddress.of(path))) {
            send(client, "{\"cmd\":\"slow\"}");
            assertTrue(running.await(5, TimeUnit.SECONDS), "the command started");
            server.close();
            JsonNode reply = readReply(client);
            assertEquals(Protocol.ok("done slow"), reply);
            assertEquals(null, readLine(client), "then the connection closes");
        }
    }

    /**
     * A request that reaches the server once it is stopping is not run: it is answered with a STOPPING
     * error, or, if the connection is closed first, the client reads end of stream, never a partial line.
     * Before, such a request ran while the daemon was being torn down.
     */
    @Test
    void aRequestArrivingWhileTheServerStopsIsNotRun() throws Exception {
        CountDownLatch running = new CountDownLatch(1);
        List<String> ran = new CopyOnWriteArrayList<>();
        ControlServer.Handler handler = (cmd, args) -> {
            ran.add(cmd);
            if (cmd.equals("slow")) {
                running.countDown();
                sleep(SLOW_COMMAND);
            }
            return cmd;
        };
        Path path = dir.resolve("late.sock");
        ControlServer server = new ControlServer(path, -1, Duration.ofSeconds(60), handler);
        try (SocketChannel first = SocketChannel.open(UnixDomainSocketAddress.of(path));
             SocketChannel late = SocketChannel.open(UnixDomainSocketAddress.of(path))) {
            send(late, "{\"cmd\":\"early\"}");
            assertEquals(Protocol.ok("early"), readReply(late));
            send(first, "{\"cmd\":\"slow\"}");
            assertTrue(running.await(5, TimeUnit.SECONDS), "the slow command started");
            Thread stopper = new Thread(server::close, "stopper");
            stopper.start();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (!server.stopping()) {
                assertTrue(System.nanoTime() < deadline, "close() began");
                Thread.onSpinWait();
            }
            send(late, "{\"cmd\":\"late\"}");
            stopper.join(10_000);
            assertFalse(stopper.isAlive(), "close() returned");
            assertEquals(Protocol.ok("slow"), readReply(first));
            String answer = readLine(late);
            if (answer != null) {
                JsonNode error = JsonLines.parse(answer.getBytes(StandardCharsets.UTF_8)).path("error");
                assertEquals(ControlException.STOPPING, error.path("code").asText(), answer);
            }
            assertEquals(List.of("early", "slow"), ran, "the late request was not run");
        }
    }

    private static final long SLOW_COMMAND = 400;

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void send(SocketChannel client, String line) throws IOException {
        ByteBuffer b = ByteBuffer.wrap((line + "\n").getBytes(StandardCharsets.UTF_8));
        while (b.hasRemaining()) {
            client.write(b);
        }
    }

    private static JsonNode readReply(SocketChannel client) throws IOException {
        String line = readLine(client);
        assertNotNull(line, "a reply, not end of stream");
        return JsonLines.parse(line.getBytes(StandardCharsets.UTF_8));
    }

    /** The next line from the server, without its newline; null at end of stream (a partial line fails). */
    private static String readLine(SocketChannel client) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        ByteBuffer one = ByteBuffer.allocate(1);
        while (true) {
            one.clear();
            if (client.read(one) < 0) {
                assertEquals(0, line.size(), "end of stream inside a line: " + line);
                return null;
            }
            if (one.get(0) == '\n') {
                return line.toString(StandardCharsets.UTF_8);
            }
            line.write(one.get(0));
        }
    }
}
