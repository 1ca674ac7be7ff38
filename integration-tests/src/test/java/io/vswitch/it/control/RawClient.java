package io.vswitch.it.control;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A control-socket client written against the wire protocol only (JDK unix sockets, no vswitch
 * code), so tests can send what the real CLI never would: garbage, huge lines, half lines, and
 * many requests fast. Reads time out instead of hanging a test.
 */
final class RawClient implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final SocketChannel channel;
    private final Selector selector;
    private final ByteBuffer in = ByteBuffer.allocate(64 * 1024);
    private final ByteArrayOutputStream line = new ByteArrayOutputStream();

    RawClient(Path socket) throws IOException {
        channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        channel.connect(UnixDomainSocketAddress.of(socket));
        channel.configureBlocking(false);
        selector = Selector.open();
        channel.register(selector, SelectionKey.OP_READ);
        in.flip();
    }

    /** Writes bytes as they are (blocking until the kernel took them all, at most timeout). */
    void send(byte[] bytes, Duration timeout) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(bytes);
        long deadline = System.nanoTime() + timeout.toNanos();
        try (Selector w = Selector.open()) {
            channel.register(w, SelectionKey.OP_WRITE);
            while (b.hasRemaining()) {
                if (channel.write(b) == 0) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        throw new IOException("write timed out with " + b.remaining() + " bytes left");
                    }
                    w.select(Math.max(1, left / 1_000_000));
                }
            }
        }
    }

    void send(String text) throws IOException {
        send(text.getBytes(StandardCharsets.UTF_8), Duration.ofSeconds(10));
    }

    /** The next '\n'-terminated line, or null at EOF; throws if none arrives within timeout. */
    String readLine(Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        line.reset();
        while (true) {
            while (in.hasRemaining()) {
                byte b = in.get();
                if (b == '\n') {
                    return line.toString(StandardCharsets.UTF_8);
                }
                line.write(b);
            }
            in.clear();
            int n = channel.read(in);
            in.flip();
            if (n < 0) {
                return line.size() == 0 ? null : line.toString(StandardCharsets.UTF_8);
            }
            if (n == 0) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new IOException("no reply line within " + timeout + " (partial: " + line.size() + " bytes)");
                }
                selector.select(Math.max(1, left / 1_000_000));
                selector.selectedKeys().clear();
            }
        }
    }

    /** The next reply, parsed; throws at EOF. */
    JsonNode readReply(Duration timeout) throws IOException {
        String l = readLine(timeout);
        if (l == null) {
            throw new IOException("the daemon closed the connection");
        }
        return JSON.readTree(l);
    }

    /** One well-formed request and its reply. */
    JsonNode request(String cmd, ObjectNode args) throws IOException {
        ObjectNode req = JSON.createObjectNode();
        req.put("v", 1);
        req.put("cmd", cmd);
        req.set("args", args == null ? JSON.createObjectNode() : args);
        send(JSON.writeValueAsString(req) + "\n");
        return readReply(Duration.ofSeconds(10));
    }

    /** True if the daemon closed its end: a read sees EOF within timeout (data before it is skipped). */
    boolean closedByPeer(Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            in.clear();
            int n;
            try {
                n = channel.read(in);
            } catch (IOException e) {
                return true; // reset
            } finally {
                in.flip();
                in.position(in.limit());
            }
            if (n < 0) {
                return true;
            }
            if (n == 0) {
                selector.select(50);
                selector.selectedKeys().clear();
            }
        }
        return false;
    }

    static ObjectNode args() {
        return JSON.createObjectNode();
    }

    @Override
    public void close() throws IOException {
        try {
            selector.close();
        } finally {
            channel.close();
        }
    }
}
