package io.vswitch.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vswitch.control.ControlException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** Switch-wide settings: FDB ageing and limits. */
final class SettingsCommands {
    private SettingsCommands() {
    }

    @Command(name = "set-ageing", mixinStandardHelpOptions = true, description = "Set the FDB ageing time in seconds (default 300).")
    static final class SetAgeing extends ClientCommand {
        @Parameters(paramLabel = "SECONDS")
        int seconds;

        @Override
        int run() throws ControlException {
            JsonNode result = client.call("set-ageing", ClientOptions.args().put("seconds", seconds));
            return client.print(result, () -> System.out.println("ageing time " + seconds + " s"));
        }
    }

    @Command(name = "set-limits", mixinStandardHelpOptions = true, description = "Set the FDB limits (defaults 65536 in all, 8192 per port).")
    static final class SetLimits extends ClientCommand {
        @Option(names = "--max-entries", paramLabel = "N")
        Integer maxEntries;

        @Option(names = "--max-per-port", paramLabel = "N")
        Integer maxPerPort;

        @Override
        int run() throws ControlException {
            ObjectNode args = ClientOptions.args();
            if (maxEntries != null) {
                args.put("maxEntries", maxEntries);
            }
            if (maxPerPort != null) {
                args.put("maxPerPort", maxPerPort);
            }
            JsonNode result = client.call("set-limits", args);
            return client.print(result, () -> System.out.println("fdb limits: " + result.path("maxEntries").asInt()
                    + " in all, " + result.path("maxPerPort").asInt() + " per port"));
        }
    }
}
