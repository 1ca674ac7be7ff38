package io.vswitch.it.churn;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * One control-socket connection speaking the wire protocol (a JSON line each way), so a test can make
 * hundreds of changes in seconds instead of starting the CLI's JVM for each. JDK sockets only.
 */
final class ControlConnection implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final SocketChannel channel;
    private final OutputStream out;
    private final BufferedReader in;

    ControlConnection(Path socket) throws IOException {
        channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        channel.connect(UnixDomainSocketAddress.of(socket));
        out = Channels.newOutputStream(channel);
        in = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8));
    }

    static ObjectNode args() {
        return JSON.createObjectNode();
    }

    /** Sends the request and returns its result; throws with the daemon's message when it refused. */
    JsonNode call(String cmd, ObjectNode args) throws IOException {
        ObjectNode request = JSON.createObjectNode();
        request.put("v", 1);
        request.put("cmd", cmd);
        request.set("args", args);
        out.write((JSON.writeValueAsString(request) + "\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
        String line = in.readLine();
        if (line == null) {
            throw new IOException("the daemon closed the control connection after " + request);
        }
        JsonNode reply = JSON.readTree(line);
        if (!reply.path("ok").asBoolean()) {
            throw new IOException(cmd + " " + args + " failed: " + reply.path("error"));
        }
        return reply.path("result");
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
