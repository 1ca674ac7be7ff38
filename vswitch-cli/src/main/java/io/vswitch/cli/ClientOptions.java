package io.vswitch.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vswitch.control.ControlClient;
import io.vswitch.control.ControlException;
import io.vswitch.control.JsonLines;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** Options every client command takes: where the daemon is, and whether to print JSON. */
public final class ClientOptions {
    public static final String DEFAULT_SOCKET = "/run/vswitch/vswitchd.sock";

    @Option(names = "--socket", paramLabel = "PATH",
            description = "Control socket of the daemon (default: $VSWITCH_SOCKET or " + DEFAULT_SOCKET + ").")
    Path socket;

    @Option(names = "--json", description = "Print the daemon's reply as JSON.")
    boolean json;

    Path socket() {
        if (socket != null) {
            return socket;
        }
        if (VswitchRoot.globalSocket != null) {
            return VswitchRoot.globalSocket;
        }
        String env = System.getenv("VSWITCH_SOCKET");
        return Path.of(env != null && !env.isEmpty() ? env : DEFAULT_SOCKET);
    }

    /** One request to the daemon; errors come back as {@link ControlException}. */
    JsonNode call(String cmd, ObjectNode args) throws ControlException {
        try (ControlClient client = ControlClient.connect(socket())) {
            return client.call(cmd, args);
        }
    }

    static ObjectNode args() {
        return JsonLines.object();
    }

    /** Prints JSON when asked, else runs the human-readable printer. */
    int print(JsonNode result, Runnable human) {
        if (json) {
            try {
                System.out.println(JsonLines.pretty(result));
            } catch (java.io.IOException e) {
                throw new IllegalStateException(e);
            }
        } else {
            human.run();
        }
        return 0;
    }
}
