package io.vswitch.cli;

import picocli.AutoComplete;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code vswitch} command: the daemon, the demo, and the client commands that manage a running
 * daemon. This annotation's subcommand list is the one list of commands; {@link VswitchRoot} holds
 * the root's own name, options and description.
 */
@Command(subcommands = {
            DaemonCommand.class, DemoCommand.class,
            PortCommands.AddPort.class, PortCommands.DelPort.class, PortCommands.SetPort.class,
            PortCommands.ListPorts.class, ShowCommand.class, FdbCommands.class,
            SettingsCommands.SetAgeing.class, SettingsCommands.SetLimits.class,
            FlowsCommand.class, StatsCommand.class, CaptureCommand.class,
            AutoComplete.GenerateCompletion.class
        })
public final class VswitchCli extends VswitchRoot {
    /**
     * Built-in picocli converters not registered: picocli finds those for java.sql and java.time types
     * by reflection on every {@code CommandLine}, loading and initialising those classes, and no option
     * here has such a type. Measured with hyperfine (30 runs, load about 1): {@code vswitch show}
     * 214.7 -> 198.4 ms mean wall, 236 -> 216 ms user CPU.
     */
    private static final String UNUSED_CONVERTERS = "java\\.sql\\..*,java\\.time\\..*";

    public static void main(String[] args) {
        if (System.getProperty("picocli.converters.excludes") == null) {
            System.setProperty("picocli.converters.excludes", UNUSED_CONVERTERS);
        }
        int status = 1;
        try {
            status = forArgs(args).execute(args);
        } catch (Throwable t) {
            // An Error escapes picocli (it handles only Exceptions); without this exit the JVM would
            // wait for every non-daemon thread instead of ending with the failure.
            t.printStackTrace();
        } finally {
            System.exit(status);
        }
    }

    /** The full command line (help, documentation, completion): exit codes 0 ok, 1 error, 2 usage. */
    public static CommandLine commandLine() {
        CommandLine cli = configure(new CommandLine(new VswitchCli()));
        cli.getSubcommands().get("generate-completion").getCommandSpec().usageMessage().hidden(false);
        return cli;
    }

    /**
     * The command line for {@code args}: when they name one of our commands (after the global {@code
     * --socket}), the root with only that subcommand: with the client's JSON codec this took {@code
     * vswitch show} from 0.88 to 0.46 s of CPU (docs/ARCHITECTURE.md, "CLI start-up"); anything
     * else (no command, help, a typo that needs suggestions, completion) gets the full one.
     */
    static CommandLine forArgs(String[] args) {
        Class<?> only = commandNamed(args);
        if (only == null) {
            return commandLine();
        }
        CommandLine cli = new CommandLine(new VswitchRoot());
        cli.addSubcommand(new CommandLine(only));
        return configure(cli);
    }

    private static Class<?> commandNamed(String[] args) {
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (arg.equals("--socket")) {
                i++;
            } else if (!arg.startsWith("--socket=")) {
                return ourCommand(arg);
            }
        }
        return null;
    }

    private static Class<?> ourCommand(String name) {
        for (Class<?> c : VswitchCli.class.getAnnotation(Command.class).subcommands()) {
            if (c.getPackage() == VswitchCli.class.getPackage() && c.getAnnotation(Command.class).name().equals(name)) {
                return c;
            }
        }
        return null;
    }

    private static CommandLine configure(CommandLine cli) {
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
        return cli;
    }
}
