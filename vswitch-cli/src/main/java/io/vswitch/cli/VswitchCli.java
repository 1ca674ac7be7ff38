package io.vswitch.cli;

import picocli.AutoComplete;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code vswitch} command: the daemon, the demo, and the client commands that manage a running daemon. */
@Command(name = "vswitch", mixinStandardHelpOptions = true, version = "vswitch 0.1.0",
        description = "A user-space virtual Ethernet switch for Linux: TAP ports, VLANs, a learning bridge.",
        subcommands = {
            DaemonCommand.class, DemoCommand.class,
            PortCommands.AddPort.class, PortCommands.DelPort.class, PortCommands.SetPort.class,
            PortCommands.ListPorts.class, ShowCommand.class, FdbCommands.class,
            SettingsCommands.SetAgeing.class, SettingsCommands.SetLimits.class,
            FlowsCommand.class, StatsCommand.class, CaptureCommand.class,
            AutoComplete.GenerateCompletion.class
        })
public final class VswitchCli {
    /** {@code --socket} given before the subcommand name; client commands fall back to it. */
    static volatile java.nio.file.Path globalSocket;

    @picocli.CommandLine.Option(names = "--socket", paramLabel = "PATH",
            description = "Control socket of the daemon, for any command (also accepted after the command name).")
    void setSocket(java.nio.file.Path socket) {
        globalSocket = socket;
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The configured command line: exit codes 0 ok, 1 error, 2 usage. */
    public static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new VswitchCli());
        cli.setExitCodeExceptionMapper(e -> 1);
        cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
            cmd.getErr().println("vswitch: " + (e.getMessage() == null ? e.toString() : e.getMessage()));
            return 1;
        });
        cli.setParameterExceptionHandler((e, args) -> {
            CommandLine cmd = e.getCommandLine();
            cmd.getErr().println("vswitch: " + e.getMessage());
            CommandLine.UnmatchedArgumentException.printSuggestions(e, cmd.getErr());
            cmd.getErr().println("Try '" + cmd.getCommandSpec().qualifiedName() + " --help' for usage.");
            return 2;
        });
        cli.getSubcommands().get("generate-completion").getCommandSpec().usageMessage().hidden(false);
        return cli;
    }
}
