package io.vswitch.control;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;

/**
 * The CLI's side of the control socket: one connection, requests answered in order. Uses the JDK's
 * own AF_UNIX channels rather than jnr-unixsocket: without jnr-ffi to load, {@code vswitch show} went
 * from 1.23 to 0.88 s of CPU (hyperfine; docs/ARCHITECTURE.md, "CLI start-up").
 */
public final class ControlClient implements AutoCloseable {
    private final SocketChannel channel;
    private final OutputStream out;
    private final InputStream in;

    private ControlClient(SocketChannel channel) {
        this.channel = channel;
        this.out = Channels.newOutputStream(channel);
        this.in = new BufferedInputStream(Channels.newInputStream(channel));
    }

    /** Connects, or explains why not in terms of what to do about it. */
    public static ControlClient connect(Path socket) throws ControlException {
        try {
            SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX);
            try {
                channel.connect(UnixDomainSocketAddress.of(socket));
            } catch (IOException | RuntimeException e) {
                channel.close();
                throw e;
            }
            return new ControlClient(channel);
        } catch (IOException e) {
            String why = e.getMessage() == null ? e.toString() : e.getMessage();
            if (why.contains("Permission denied")) {
                throw new ControlException(ControlException.PERMISSION_DENIED, "no permission to use the daemon's socket "
                        + socket + ": run as root (sudo ./vswitch ...) or as a member of the daemon's --group");
            }
            throw new ControlException(ControlException.FAILED, "cannot reach the daemon at " + socket + " (" + why
                    + "): is it running? Start it with 'sudo ./vswitch daemon', or pass --socket PATH");
        }
    }

    /** Sends {@code cmd} and returns its result, or throws the daemon's error. */
    public JsonNode call(String cmd, ObjectNode args) throws ControlException {
        try {
            IOException writeFailure = null;
            try {
                out.write(JsonLines.line(request(cmd, args)));
                out.flush();
            } catch (IOException e) {
                // The daemon may have refused this connection (PERMISSION_DENIED, BUSY) and closed it before
                // the request went out: its reply is still waiting to be read, and says more than EPIPE.
                writeFailure = e;
            }
            JsonNode reply;
            try {
                reply = readReply();
            } catch (IOException e) {
                throw writeFailure != null ? writeFailure : e;
            }
            if (reply.path("ok").asBoolean()) {
                return reply.path("result");
            }
            JsonNode error = reply.path("error");
            throw new ControlException(error.path("code").asText(ControlException.FAILED), error.path("message").asText());
        } catch (IOException e) {
            throw new ControlException(ControlException.FAILED, "control connection failed: " + e.getMessage());
        }
    }

    private JsonNode readReply() throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int b;
        while ((b = in.read()) >= 0 && b != '\n') {
            bytes.write(b);
        }
        if (b < 0 && bytes.size() == 0) {
            throw new IOException("the daemon closed the connection");
        }
        return JsonLines.parse(bytes.toByteArray());
    }

    /** Built here, not in {@link Protocol}, so that the CLI never initialises Protocol's ObjectMapper. */
    private static ObjectNode request(String cmd, ObjectNode args) {
        ObjectNode request = JsonLines.object();
        request.put("v", Protocol.VERSION);
        request.put("cmd", cmd);
        request.set("args", args == null ? JsonLines.object() : args);
        return request;
    }

    /** The raw stream after a streaming reply (capture). */
    public InputStream stream() {
        return in;
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException e) {
            // nothing left to do with a connection that will not close
        }
    }
}
