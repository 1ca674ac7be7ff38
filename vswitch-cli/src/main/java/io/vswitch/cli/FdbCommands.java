package io.vswitch.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vswitch.control.ControlException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code vswitch fdb show|add|del|flush}: the learning table. */
@Command(name = "fdb", mixinStandardHelpOptions = true, description = "Show and change the forwarding database.",
        subcommands = {FdbCommands.Show.class, FdbCommands.Add.class, FdbCommands.Del.class, FdbCommands.Flush.class})
final class FdbCommands {
    /** {@code vswitch fdb --socket PATH show}: the socket between "fdb" and its subcommand. */
    @Option(names = "--socket", paramLabel = "PATH",
            description = "Control socket of the daemon (also accepted before 'fdb' and after the subcommand).")
    void setSocket(java.nio.file.Path socket) {
        VswitchRoot.globalSocket = socket;
    }

    @Command(name = "show", mixinStandardHelpOptions = true, description = "List FDB entries.")
    static final class Show extends ClientCommand {
        @Option(names = "--port", paramLabel = "P")
        String port;

        @Option(names = "--vlan", paramLabel = "V")
        Integer vlan;

        @Override
        int run() throws ControlException {
            ObjectNode args = ClientOptions.args();
            if (port != null) {
                args.put("port", port);
            }
            if (vlan != null) {
                args.put("vlan", vlan);
            }
            JsonNode result = client.call("fdb-show", args);
            return client.print(result, () -> {
                Table t = new Table("MAC", "VLAN", "PORT", "REMOTE", "TYPE", "AGE");
                for (JsonNode e : result) {
                    boolean isStatic = e.path("static").asBoolean();
                    t.row(e.path("mac").asText(), e.path("vlan").asInt(), e.path("port").asText(), e.path("remote").asText("-"),
                            isStatic ? "static" : "learned", isStatic ? "-" : String.format("%.1fs", e.path("ageSeconds").asDouble()));
                }
                System.out.print(t);
            });
        }
    }

    @Command(name = "add", mixinStandardHelpOptions = true, description = "Add a static entry (never ages, never moves).")
    static final class Add extends ClientCommand {
        @Parameters(paramLabel = "MAC")
        String mac;

        @Option(names = "--port", required = true, paramLabel = "P")
        String port;

        @Option(names = "--vlan", paramLabel = "V", description = "VLAN (default: untagged).")
        Integer vlan;

        @Option(names = "--remote", paramLabel = "ADDR", description = "For a vxlan port: the remote VTEP the MAC is behind.")
        String remote;

        @Override
        int run() throws ControlException {
            ObjectNode args = ClientOptions.args().put("mac", mac).put("port", port);
            if (vlan != null) {
                args.put("vlan", vlan);
            }
            if (remote != null) {
                args.put("remote", remote);
            }
            JsonNode result = client.call("fdb-add", args);
            return client.print(result, () -> System.out.println("static " + result.path("mac").asText() + " vlan "
                    + result.path("vlan").asInt() + " -> " + port
                    + (result.hasNonNull("remote") ? " remote " + result.path("remote").asText() : "")));
        }
    }

    @Command(name = "del", mixinStandardHelpOptions = true, description = "Remove an entry.")
    static final class Del extends ClientCommand {
        @Parameters(paramLabel = "MAC")
        String mac;

        @Option(names = "--vlan", paramLabel = "V")
        Integer vlan;

        @Override
        int run() throws ControlException {
            ObjectNode args = ClientOptions.args().put("mac", mac);
            if (vlan != null) {
                args.put("vlan", vlan);
            }
            JsonNode result = client.call("fdb-del", args);
            return client.print(result, () -> System.out.println("removed " + result.path("removed").asText()));
        }
    }

    @Command(name = "flush", mixinStandardHelpOptions = true, description = "Remove learned entries (of one port, or all).")
    static final class Flush extends ClientCommand {
        @Option(names = "--port", paramLabel = "P")
        String port;

        @Override
        int run() throws ControlException {
            ObjectNode args = ClientOptions.args();
            if (port != null) {
                args.put("port", port);
            }
            JsonNode result = client.call("fdb-flush", args);
            return client.print(result, () -> System.out.println("flushed " + result.path("flushed").asInt() + " entries"));
        }
    }
}
