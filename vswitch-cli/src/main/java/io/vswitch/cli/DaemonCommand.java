package io.vswitch.cli;

import io.vswitch.daemon.PortSpec;
import io.vswitch.daemon.Vswitchd;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import sun.misc.Signal;
import picocli.CommandLine.Option;

/** {@code vswitch daemon}: runs the switch in the foreground until SIGINT or SIGTERM. */
@Command(name = "daemon", mixinStandardHelpOptions = true,
        description = {"Run the switch in the foreground. Ctrl-C or SIGTERM stops it cleanly: datapath threads joined,",
            "TAPs it created removed, final counters logged. Prints '" + Vswitchd.READY + "' once every port is up."})
final class DaemonCommand implements Callable<Integer> {
    @Option(names = "--socket", paramLabel = "PATH", description = "Control socket (default: " + ClientOptions.DEFAULT_SOCKET + ").")
    Path socket;

    @Option(names = "--state-dir", paramLabel = "DIR", defaultValue = "/var/lib/vswitch",
            description = "Where the configuration is kept (default: ${DEFAULT-VALUE}).")
    Path stateDir;

    @Option(names = "--config", paramLabel = "FILE", description = "Configuration file (default: STATE_DIR/vswitch.json).")
    Path config;

    @Option(names = "--port", paramLabel = "SPEC",
            description = "Add a port at start, e.g. tap:tap0 or tap:tap1,queues=4,vlan=10,netns=ns1 (trunk=10+20, native=V, mtu=M, mac=M).")
    List<String> ports = new ArrayList<>();

    @Option(names = "--group", paramLabel = "NAME", description = "Group whose members may use the control socket besides root.")
    String group;

    @Option(names = "--metrics", paramLabel = "HOST:PORT", description = "Serve Prometheus metrics over HTTP, e.g. 127.0.0.1:9477 (off by default).")
    String metrics;

    @Option(names = "--busy-poll-us", paramLabel = "MICROS", defaultValue = "0",
            description = {"Busy queues poll this long after their last frames before their thread sleeps (0-" + MAX_BUSY_POLL_MICROS
                + "; default 0: off).", "Fewer wakeups under sustained traffic for more CPU; queues that only see a frame now and then never poll."})
    int busyPollMicros;

    static final int MAX_BUSY_POLL_MICROS = 1000;

    @Option(names = "--datapath-threads", paramLabel = "N", defaultValue = "0",
            description = {"Serve every port's queues from a pool of N datapath threads (1-" + Vswitchd.MAX_DATAPATH_THREADS
                + "; default 0: a thread per queue).", "Each queue goes to the thread serving the fewest queues when its port is added."})
    int datapathThreads;

    @Override
    public Integer call() throws Exception {
        if (busyPollMicros < 0 || busyPollMicros > MAX_BUSY_POLL_MICROS) {
            System.err.println("vswitch daemon: --busy-poll-us " + busyPollMicros + " is out of range: give 0 (off) to "
                    + MAX_BUSY_POLL_MICROS + " microseconds, e.g. --busy-poll-us 50");
            return 2;
        }
        if (datapathThreads < 0 || datapathThreads > Vswitchd.MAX_DATAPATH_THREADS) {
            System.err.println("vswitch daemon: --datapath-threads " + datapathThreads + " is out of range: give 0 (a thread"
                    + " per queue) or a pool of 1 to " + Vswitchd.MAX_DATAPATH_THREADS + " threads, e.g. --datapath-threads 1");
            return 2;
        }
        List<PortSpec> specs = new ArrayList<>();
        for (String text : ports) {
            try {
                specs.add(PortSpec.parse(text));
            } catch (IllegalArgumentException e) {
                System.err.println("vswitch daemon: --port " + text + ": " + e.getMessage());
                return 2;
            }
        }
        Path socketPath = socket != null ? socket : VswitchRoot.globalSocket != null ? VswitchRoot.globalSocket
                : Path.of(ClientOptions.DEFAULT_SOCKET);
        Files.createDirectories(stateDir);
        Path configFile = config != null ? config : stateDir.resolve("vswitch.json");
        Vswitchd.Options options = new Vswitchd.Options(socketPath, stateDir, configFile, specs, gid(group),
                metrics == null ? null : io.vswitch.metrics.MetricsServer.parseAddress(metrics),
                Duration.ofNanos(busyPollMicros * 1000L), datapathThreads);
        Vswitchd daemon;
        try {
            daemon = Vswitchd.start(options);
        } catch (IOException e) {
            System.err.println("vswitch daemon: " + e.getMessage());
            return 1;
        }
        // SIGINT/SIGTERM end the wait below and the daemon stops cleanly with exit code 0; the hook
        // covers any other way the JVM goes down.
        CountDownLatch stop = new CountDownLatch(1);
        Signal.handle(new Signal("INT"), s -> stop.countDown());
        Signal.handle(new Signal("TERM"), s -> stop.countDown());
        Thread hook = new Thread(daemon::close, "shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        System.out.println(Vswitchd.READY);
        System.out.flush();
        stop.await();
        Runtime.getRuntime().removeShutdownHook(hook);
        try {
            daemon.close();
        } catch (Throwable t) {
            // Exit non-zero (VswitchCli.main's System.exit) rather than return into a JVM that some
            // leftover non-daemon thread might keep alive; each failure was logged by close().
            System.err.println("vswitch daemon: " + t.getMessage() + "; exiting with status 1");
            return 1;
        }
        return 0;
    }

    /** Numeric id of group {@code name} from /etc/group, -1 for none. */
    static int gid(String name) throws IOException {
        if (name == null) {
            return -1;
        }
        for (String line : Files.readAllLines(Path.of("/etc/group"))) {
            String[] f = line.split(":");
            if (f.length > 2 && f[0].equals(name)) {
                return Integer.parseInt(f[2]);
            }
        }
        throw new IOException("group '" + name + "' does not exist (see /etc/group; create it with groupadd)");
    }
}
