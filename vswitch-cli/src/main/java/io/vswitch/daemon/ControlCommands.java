package io.vswitch.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import io.vswitch.control.ControlException;
import io.vswitch.control.ControlServer;
import java.util.HashMap;
import java.util.Map;

/**
 * The daemon's side of every control command (the kernel bridge's {@code br_netlink.c}): routes a
 * request to the class that owns its concern, as the CLI side is split. Each of those validates its
 * arguments ({@link ControlArgs}), changes the running switch under the daemon's lock, persists the
 * change, and describes the result as plain maps that become the JSON replies.
 */
final class ControlCommands implements ControlServer.Handler {
    /** One command: arguments in, result (or a {@link ControlServer.Streaming}) out. */
    @FunctionalInterface
    interface Command {
        Object run(JsonNode args) throws ControlException;
    }

    private final Map<String, Command> commands = new HashMap<>();

    ControlCommands(Vswitchd daemon) {
        PortControl ports = new PortControl(daemon);
        ShowControl show = new ShowControl(daemon);
        FdbControl fdb = new FdbControl(daemon);
        SettingsControl settings = new SettingsControl(daemon);
        StatsControl stats = new StatsControl(daemon);
        FlowsControl flows = new FlowsControl(daemon);
        CaptureControl capture = new CaptureControl(daemon);
        commands.put("add-port", ports::add);
        commands.put("del-port", ports::delete);
        commands.put("set-port", ports::set);
        commands.put("show", show::show);
        commands.put("list-ports", show::show);
        commands.put("fdb-show", fdb::show);
        commands.put("fdb-add", fdb::add);
        commands.put("fdb-del", fdb::delete);
        commands.put("fdb-flush", fdb::flush);
        commands.put("set-ageing", settings::setAgeing);
        commands.put("set-limits", settings::setLimits);
        commands.put("stats", stats::stats);
        commands.put("flows", flows::flows);
        commands.put("capture", capture::capture);
    }

    @Override
    public Object handle(String cmd, JsonNode args) throws ControlException {
        Command command = commands.get(cmd);
        if (command == null) {
            throw new ControlException(ControlException.UNKNOWN_COMMAND, "unknown command '" + cmd
                    + "': see 'vswitch --help'");
        }
        return command.run(args);
    }
}
