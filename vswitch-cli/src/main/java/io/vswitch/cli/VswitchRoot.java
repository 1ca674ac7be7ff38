package io.vswitch.cli;

import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** The root {@code vswitch} command itself, without subcommands (see {@link VswitchCli#forArgs}). */
@Command(name = "vswitch", mixinStandardHelpOptions = true, version = "vswitch 0.1.0",
        description = "A user-space virtual Ethernet switch for Linux: TAP ports, VLANs, a learning bridge.")
class VswitchRoot {
    /** {@code --socket} given before the subcommand name; client commands fall back to it. */
    static volatile Path globalSocket;

    @Option(names = "--socket", paramLabel = "PATH",
            description = "Control socket of the daemon, for any command (also accepted after the command name).")
    void setSocket(Path socket) {
        globalSocket = socket;
    }
}
