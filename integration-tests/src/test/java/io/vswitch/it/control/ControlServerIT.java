package io.vswitch.it.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.it.harness.BackgroundProcess;
import io.vswitch.it.harness.SwitchProcess;
import io.vswitch.it.harness.SwitchTestBase;
import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.Channels;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The control server under many and broken clients: a thousand at once, a thousand that never finish
 * their line, one that sends requests and never reads the answers, a capture that falls behind. None
 * costs the daemon a thread, none keeps the CLI from being answered, and the idle timeout closes the
 * broken ones (not the capture).
 */
class ControlServerIT extends SwitchTestBase {
    private static final int CLIENTS = 1000;
    private static final int IDLE_SECONDS = 4;
    private static final byte[] SHOW = "{\"v\":1,\"cmd\":\"show\"}\n".getBytes(StandardCharsets.US_ASCII);

    @Test
    void aThousandClientsAtOnceAreAllAnsweredWithoutAThreadEach() throws Exception {
        SwitchProcess sw = start(idleTimeout());
        host("a", "198.18.11.1/24");
        int threadsBefore = threads(sw);
        List<SocketChannel> clients = connect(sw.socket(), CLIENTS);
        try (Selector selector = Selector.open()) {
            for (SocketChannel c : clients) {
                writeFully(c, SHOW);
                c.configureBlocking(false);
                c.register(selector, SelectionKey.OP_READ, new StringBuilder());
            }
            assertTrue(threads(sw) <= threadsBefore + 2, "daemon threads went from " + threadsBefore + " to " + threads(sw)
                    + " with " + CLIENTS + " clients connected");
            int answered = 0;
            ByteBuffer buffer = ByteBuffer.allocate(64 * 1024);
            long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
            while (answered < CLIENTS && System.nanoTime() < deadline) {
                selector.select(1000);
                for (SelectionKey key : selector.selectedKeys()) {
                    StringBuilder line = (StringBuilder) key.attachment();
                    buffer.clear();
                    int n = ((SocketChannel) key.channel()).read(buffer);
                    if (n > 0) {
                        line.append(StandardCharsets.UTF_8.decode(buffer.flip()));
                    }
                    if (line.indexOf("\n") >= 0) {
                        assertTrue(line.toString().startsWith("{\"v\":1,\"ok\":true,\"result\":{\"ports\":[{\"name\":"),
                                line::toString);
                        key.cancel();
                        answered++;
                    } else if (n < 0) {
                        throw new AssertionError("a client was closed without an answer");
                    }
                }
                selector.selectedKeys().clear();
            }
            assertEquals(CLIENTS, answered, "clients answered");
        } finally {
            closeAll(clients);
        }
        assertTrue(sw.isAlive());
    }

    @Test
    void aThousandUnfinishedLinesDelayNobodyAndAreClosedWhenIdle() throws Exception {
        SwitchProcess sw = start(idleTimeout());
        Host a = host("a", "198.18.11.1/24");
        int threadsBefore = threads(sw);
        List<SocketChannel> clients = connect(sw.socket(), CLIENTS);
        try {
            for (SocketChannel c : clients) {
                writeFully(c, "{\"v\":1,\"cmd\":\"sh".getBytes(StandardCharsets.US_ASCII));
            }
            assertTrue(threads(sw) <= threadsBefore + 2, "daemon threads went from " + threadsBefore + " to " + threads(sw));
            // the CLI is answered while all of them hang
            assertTrue(json("show").path("ports").get(0).path("name").asText().equals(a.port()));
            // and the daemon closes them once idle
            for (SocketChannel c : clients) {
                assertTrue(closedByPeer(c, Duration.ofSeconds(IDLE_SECONDS * 5L)), "a half-line client outlived the idle timeout");
            }
        } finally {
            closeAll(clients);
        }
        await(Duration.ofSeconds(10), () -> json("show").path("ports").size() == 1, sw::outputTail);
    }

    @Test
    void aClientThatNeverReadsIsNoLongerReadAndOthersAreServed() throws Exception {
        SwitchProcess sw = start(idleTimeout());
        for (int i = 0; i < 8; i++) {
            host("h" + i, "198.18.11." + (i + 1) + "/24"); // replies of a few KiB each
        }
        try (SocketChannel greedy = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            greedy.connect(UnixDomainSocketAddress.of(sw.socket()));
            greedy.configureBlocking(false);
            // Pipeline requests without reading: once its unread replies pass the daemon's limit the
            // daemon stops reading it, so the socket fills and the client cannot write any more.
            long sent = 0;
            long limit = 8L * 1024 * 1024;
            ByteBuffer request = ByteBuffer.wrap(SHOW);
            long lastProgress = System.nanoTime();
            while (sent < limit && System.nanoTime() - lastProgress < Duration.ofSeconds(3).toNanos()) {
                if (!request.hasRemaining()) {
                    request.rewind();
                }
                int n = greedy.write(request);
                if (n > 0) {
                    sent += n;
                    lastProgress = System.nanoTime();
                } else {
                    Thread.sleep(10);
                }
            }
            assertTrue(sent < limit, "the daemon kept reading requests of a client that reads no replies (" + sent + " bytes)");
            // others are served meanwhile
            assertEquals(8, json("show").path("ports").size());
            assertTrue(closedByPeer(greedy, Duration.ofSeconds(IDLE_SECONDS * 5L)), "the daemon kept a client that never reads");
        }
        assertEquals(8, json("show").path("ports").size());
        assertTrue(sw.isAlive());
    }

    @Test
    void aCaptureClientThatFallsBehindStillGetsAWellFormedStream() throws Exception {
        start(idleTimeout());
        Host a = host("a", "198.18.11.1/24");
        Host b = host("b", "198.18.11.2/24");
        BackgroundProcess ping = ns.startBackground(a.netns(), "ping", "-n", "-q", "-i", "0.002", "-s", "1400", b.ip());
        onCleanup(ping::stop);
        try (SocketChannel capture = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            capture.connect(UnixDomainSocketAddress.of(sw.socket()));
            writeFully(capture, ("{\"v\":1,\"cmd\":\"capture\",\"args\":{\"port\":\"" + a.port() + "\"}}\n")
                    .getBytes(StandardCharsets.US_ASCII));
            DataInputStream in = new DataInputStream(new BufferedInputStream(Channels.newInputStream(capture)));
            String reply = readLine(in);
            assertTrue(reply.contains("\"ok\":true") && reply.contains("\"format\":\"pcap\""), reply);
            // read nothing for longer than the idle timeout while frames keep coming: the daemon must
            // neither close the stream nor buffer it without bound, and others are served meanwhile
            Thread.sleep(Duration.ofSeconds(IDLE_SECONDS + 2L).toMillis());
            assertEquals(2, json("show").path("ports").size());
            byte[] global = new byte[24];
            in.readFully(global);
            assertEquals(0xa1b2c3d4, ByteBuffer.wrap(global).order(ByteOrder.LITTLE_ENDIAN).getInt(), "pcap magic");
            for (int i = 0; i < 2000; i++) {
                byte[] header = new byte[16];
                in.readFully(header);
                ByteBuffer h = ByteBuffer.wrap(header).order(ByteOrder.LITTLE_ENDIAN);
                h.position(8);
                int included = h.getInt();
                int original = h.getInt();
                assertTrue(included >= 14 && included <= 65535 && included == original, "record " + i + ": " + included + "/" + original);
                byte[] frame = new byte[included];
                in.readFully(frame);
                int etherType = ((frame[12] & 0xff) << 8) | (frame[13] & 0xff);
                assertTrue(etherType == 0x0800 || etherType == 0x0806, "record " + i + " has EtherType " + Integer.toHexString(etherType));
            }
        }
        assertTrue(sw.isAlive());
    }

    private SwitchProcess.Builder idleTimeout() {
        return SwitchProcess.builder().env("VSWITCH_JAVA_OPTS", "-Dvswitch.control.idleSeconds=" + IDLE_SECONDS);
    }

    private static List<SocketChannel> connect(Path socket, int count) throws IOException {
        List<SocketChannel> clients = new ArrayList<>(count);
        try {
            for (int i = 0; i < count; i++) {
                SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX);
                clients.add(c);
                c.connect(UnixDomainSocketAddress.of(socket));
            }
        } catch (IOException | RuntimeException e) {
            closeAll(clients);
            throw e;
        }
        return clients;
    }

    private static void writeFully(SocketChannel c, byte[] bytes) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(bytes);
        while (b.hasRemaining()) {
            c.write(b);
        }
    }

    /** True if the peer closed: a read sees EOF (or a reset) within timeout; data before it is skipped. */
    private static boolean closedByPeer(SocketChannel c, Duration timeout) throws IOException {
        c.configureBlocking(false);
        ByteBuffer sink = ByteBuffer.allocate(64 * 1024);
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            int n;
            try {
                n = c.read(sink.clear());
            } catch (IOException e) {
                return true;
            }
            if (n < 0) {
                return true;
            }
            if (n == 0) {
                try {
                    Thread.sleep(20);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return false;
                }
            }
        }
        return false;
    }

    private static String readLine(DataInputStream in) throws IOException {
        StringBuilder line = new StringBuilder();
        int b;
        while ((b = in.read()) >= 0 && b != '\n') {
            line.append((char) b);
        }
        return line.toString();
    }

    /** Threads of the daemon's JVM, from /proc. */
    private static int threads(SwitchProcess sw) throws IOException {
        try (var tasks = Files.list(Path.of("/proc", Long.toString(sw.pid()), "task"))) {
            return (int) tasks.count();
        }
    }

    private static void closeAll(List<SocketChannel> clients) {
        for (SocketChannel c : clients) {
            try {
                c.close();
            } catch (IOException e) {
                // closing is best effort
            }
        }
    }
}
