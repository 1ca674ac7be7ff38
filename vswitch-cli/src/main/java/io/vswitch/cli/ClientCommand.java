package io.vswitch.cli;

import io.vswitch.control.ControlException;
import java.util.concurrent.Callable;
import picocli.CommandLine.Mixin;

/** Base of client commands: runs {@link #run()} and turns daemon errors into "vswitch: ..." and exit 1. */
abstract class ClientCommand implements Callable<Integer> {
    @Mixin
    ClientOptions client;

    @Override
    public final Integer call() {
        try {
            return run();
        } catch (ControlException e) {
            System.err.println("vswitch: " + e.getMessage());
            return 1;
        }
    }

    abstract int run() throws ControlException;
}
