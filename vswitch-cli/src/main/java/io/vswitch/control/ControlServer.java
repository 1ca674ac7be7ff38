package io.vswitch.control;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.Semaphore;
import jnr.unixsocket.Credentials;
import jnr.unixsocket.UnixServerSocketChannel;
import jnr.unixsocket.UnixSocketAddress;
import jnr.unixsocket.UnixSocketChannel;
import jnr.unixsocket.UnixSocketOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The daemon's control socket: a unix stream socket (mode 0660) that accepts {@link Protocol}
 * requests from the {@code vswitch} CLI. Each client gets its own thread (at most {@value
 * #MAX_CLIENTS} at once), so a slow or broken client only ever blocks itself, never the datapath
 * (which never takes the control lock) or other clients.
 *
 * <p>Peers are checked with SO_PEERCRED: root, or a process whose primary or supplementary groups
 * include the configured group, is served; anyone else gets a PERMISSION_DENIED reply, a log line,
 * and the connection closed.
 */
public final class ControlServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ControlServer.class);
    static final int MAX_CLIENTS = 64;

    private final Path path;
    private final int allowedGid;
    private final Handler handler;
    private final UnixServerSocketChannel server;
    private final Semaphore slots = new Semaphore(MAX_CLIENTS);
    private final Thread acceptor;
    private volatile boolean running = true;

    /** Serves one request; may take over the connection for streaming commands. */
    public interface Handler {
        /**
         * @return the result to send, or a {@link Streaming} that writes to the connection itself
         */
        Object handle(String cmd, JsonNode args) throws ControlException;
    }

    /** A result that keeps writing to the client after the reply line (capture). */
    public interface Streaming {
        /** The reply's result, sent before {@link #stream}. */
        Object header();

        /**
         * Writes until done or until the client goes away ({@code in} reaches EOF); must return then.
         */
        void stream(OutputStream out, InputStream in) throws IOException;
    }

    /**
     * Binds {@code path} (replacing a stale socket file) and starts accepting.
     *
     * @param allowedGid group whose members may connect besides root, or -1 for root only
     */
    public ControlServer(Path path, int allowedGid, Handler handler) throws IOException {
        this.path = path;
        this.allowedGid = allowedGid;
        this.handler = handler;
        Files.createDirectories(path.toAbsolutePath().getParent());
        Files.deleteIfExists(path);
        server = UnixServerSocketChannel.open();
        try {
            server.socket().bind(new UnixSocketAddress(path.toFile()));
            Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rw-rw----"));
            if (allowedGid >= 0) {
                try {
                    Files.setAttribute(path, "unix:gid", allowedGid);
                } catch (IOException e) {
                    throw new IOException("cannot give control socket " + path + " to group " + allowedGid
                            + " (" + e.getMessage() + "): the daemon needs CAP_CHOWN for --group", e);
                }
            }
        } catch (IOException | RuntimeException e) {
            server.close();
            Files.deleteIfExists(path);
            throw e;
        }
        acceptor = new Thread(this::acceptLoop, "control-accept");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    public Path path() {
        return path;
    }

    private void acceptLoop() {
        while (running) {
            UnixSocketChannel client;
            try {
                client = server.accept();
            } catch (IOException e) {
                if (running) {
                    LOG.warn("control socket accept failed: {}", e.getMessage());
                }
                continue;
            }
            if (client == null) {
                continue;
            }
            if (!slots.tryAcquire()) {
                reject(client, ControlException.BUSY, "too many control clients (" + MAX_CLIENTS + "); try again");
                continue;
            }
            Thread worker = new Thread(() -> {
                try {
                    serve(client);
                } finally {
                    slots.release();
                }
            }, "control-client");
            worker.setDaemon(true);
            worker.start();
        }
    }

    private void serve(UnixSocketChannel client) {
        try (client) {
            Credentials peer = client.getOption(UnixSocketOptions.SO_PEERCRED);
            if (!allowed(peer)) {
                LOG.warn("control socket: refused uid={} gid={} pid={}", peer.getUid(), peer.getGid(), peer.getPid());
                reject(client, ControlException.PERMISSION_DENIED, "uid " + peer.getUid()
                        + " may not manage this switch: run as root"
                        + (allowedGid >= 0 ? " or as a member of group " + allowedGid : "")
                        + " (sudo ./vswitch ...)");
                return;
            }
            OutputStream out = new ChannelOutput(client);
            LineReader in = new LineReader(client);
            String line;
            while ((line = in.readLine()) != null) {
                if (!respond(line, out, new ChannelInput(client))) {
                    return;
                }
            }
        } catch (RequestTooLarge e) {
            LOG.warn("control socket: request over {} bytes refused", Protocol.MAX_REQUEST_BYTES);
        } catch (IOException e) {
            LOG.debug("control client gone: {}", e.getMessage());
        }
    }

    /** Answers one line; false when the connection was handed to a streaming command and is done. */
    private boolean respond(String line, OutputStream out, InputStream rest) throws IOException {
        ObjectNode reply;
        Streaming streaming = null;
        try {
            JsonNode request = parse(line);
            Object result = handler.handle(request.get("cmd").asText(), request.path("args"));
            if (result instanceof Streaming s) {
                streaming = s;
                reply = Protocol.ok(s.header());
            } else {
                reply = Protocol.ok(result);
            }
        } catch (ControlException e) {
            reply = Protocol.error(e.code(), e.getMessage());
        } catch (RuntimeException e) {
            LOG.error("control request failed: {}", line, e);
            reply = Protocol.error(ControlException.FAILED, "internal error: " + e);
        }
        write(out, reply);
        if (streaming != null) {
            streaming.stream(out, rest);
            return false;
        }
        return true;
    }

    private static JsonNode parse(String line) throws ControlException {
        JsonNode request;
        try {
            request = Protocol.JSON.readTree(line);
        } catch (IOException e) {
            throw new ControlException(ControlException.BAD_REQUEST, "request is not JSON: " + e.getMessage());
        }
        if (request == null || !request.isObject() || !request.path("cmd").isTextual()) {
            throw new ControlException(ControlException.BAD_REQUEST, "request must be a JSON object with a \"cmd\" string");
        }
        int version = request.path("v").asInt(Protocol.VERSION);
        if (version != Protocol.VERSION) {
            throw new ControlException(ControlException.UNSUPPORTED_VERSION,
                    "protocol version " + version + " is not supported; this daemon speaks " + Protocol.VERSION);
        }
        return request;
    }

    private boolean allowed(Credentials peer) {
        if (peer.getUid() == 0 || (allowedGid >= 0 && peer.getGid() == allowedGid)) {
            return true;
        }
        return allowedGid >= 0 && supplementaryGroups(peer.getPid()).contains(allowedGid);
    }

    private static List<Integer> supplementaryGroups(int pid) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Integer.toString(pid), "status"))) {
                if (line.startsWith("Groups:")) {
                    return line.substring(7).trim().isEmpty() ? List.of()
                            : java.util.Arrays.stream(line.substring(7).trim().split("\\s+")).map(Integer::valueOf).toList();
                }
            }
        } catch (IOException | NumberFormatException e) {
            LOG.debug("cannot read groups of pid {}: {}", pid, e.getMessage());
        }
        return List.of();
    }

    private static void reject(UnixSocketChannel client, String code, String message) {
        try (client) {
            write(new ChannelOutput(client), Protocol.error(code, message));
        } catch (IOException e) {
            LOG.debug("could not tell a refused client why: {}", e.getMessage());
        }
    }

    static void write(OutputStream out, JsonNode reply) throws IOException {
        byte[] bytes = Protocol.JSON.writeValueAsBytes(reply);
        byte[] line = new byte[bytes.length + 1];
        System.arraycopy(bytes, 0, line, 0, bytes.length);
        line[bytes.length] = '\n';
        out.write(line);
        out.flush();
    }

    @Override
    public void close() {
        running = false;
        try {
            server.close();
        } catch (IOException e) {
            LOG.debug("closing control socket: {}", e.getMessage());
        }
        acceptor.interrupt();
        try {
            Files.deleteIfExists(path);
        } catch (IOException e) {
            LOG.warn("cannot remove {}: {}", path, e.getMessage());
        }
    }

    /**
     * Stream over the channel's own read and write. Not {@code Channels.newInputStream/OutputStream}:
     * those hold the channel's blocking lock while blocked, so a capture's watcher thread waiting in
     * read would stall every write of the streaming thread.
     */
    private static final class ChannelOutput extends OutputStream {
        private final UnixSocketChannel channel;

        ChannelOutput(UnixSocketChannel channel) {
            this.channel = channel;
        }

        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] bytes, int offset, int length) throws IOException {
            ByteBuffer buffer = ByteBuffer.wrap(bytes, offset, length);
            while (buffer.hasRemaining()) {
                channel.write(buffer);
            }
        }
    }

    /** Reads straight from the channel; see {@link ChannelOutput}. */
    private static final class ChannelInput extends InputStream {
        private final UnixSocketChannel channel;

        ChannelInput(UnixSocketChannel channel) {
            this.channel = channel;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] bytes, int offset, int length) throws IOException {
            return channel.read(ByteBuffer.wrap(bytes, offset, length));
        }
    }

    private static final class RequestTooLarge extends IOException {
        private static final long serialVersionUID = 1L;
    }

    /** Reads '\n'-terminated lines of bounded length from a channel. */
    private static final class LineReader {
        private final UnixSocketChannel channel;
        private final ByteBuffer buffer = ByteBuffer.allocate(8192);
        private final ByteArrayOutputStream line = new ByteArrayOutputStream();

        LineReader(UnixSocketChannel channel) {
            this.channel = channel;
            buffer.flip();
        }

        String readLine() throws IOException {
            line.reset();
            while (true) {
                while (buffer.hasRemaining()) {
                    byte b = buffer.get();
                    if (b == '\n') {
                        return line.toString(StandardCharsets.UTF_8);
                    }
                    if (line.size() >= Protocol.MAX_REQUEST_BYTES) {
                        write(new ChannelOutput(channel), Protocol.error(ControlException.REQUEST_TOO_LARGE,
                                "request longer than " + Protocol.MAX_REQUEST_BYTES + " bytes"));
                        throw new RequestTooLarge();
                    }
                    line.write(b);
                }
                buffer.clear();
                int n = channel.read(buffer);
                buffer.flip();
                if (n < 0) {
                    return null;
                }
            }
        }
    }
}
