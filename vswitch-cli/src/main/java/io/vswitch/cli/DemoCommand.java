package io.vswitch.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.security.auth.module.UnixSystem;
import io.vswitch.control.ControlClient;
import io.vswitch.daemon.PortSpec;
import io.vswitch.daemon.Vswitchd;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code vswitch demo}: the switch on an embedded default. Starts a daemon in this process with two
 * TAP ports, each moved into a network namespace of its own (198.18.0.1 and 198.18.0.2), pings and
 * runs a short iperf3 through it, shows the learned FDB and counters, and removes everything.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Start the switch with two namespaces on it, ping and iperf3 through it, show FDB and counters, clean up. Needs root.")
final class DemoCommand implements Callable<Integer> {
    @Option(names = "--seconds", defaultValue = "3", description = "iperf3 duration (default ${DEFAULT-VALUE}).")
    int seconds;

    @Option(names = "--no-install", description = "Do not install missing tools (ip, ping, iperf3) with apt-get;"
            + " print the command instead.")
    boolean noInstall;

    private DemoTools tools;

    private final List<String> namespaces = new ArrayList<>();

    /** What the drops a demo may show mean, printed under its counters. */
    private static final Map<String, String> DROP_MEANINGS = Map.of(
            "no-buffer", "a TCP super-frame had to be cut into segments and the segmenter had no buffer left",
            "no-output", "a flooded frame found no other port up (sent before the other namespace's link came up)",
            "tx-busy", "the receiving TAP's queue was full for a moment; TCP resent what was dropped",
            "port-down", "a frame was sent to a port whose link was down");

    @Override
    public Integer call() throws Exception {
        boolean root = new UnixSystem().getUid() == 0;
        Optional<DemoTools> ready = DemoTools.prepare(root, !noInstall, System.out, System.err);
        if (ready.isEmpty()) {
            return 1;
        }
        if (!root) {
            System.err.println("vswitch demo: needs root to create TAPs and namespaces: run 'sudo ./vswitch demo'");
            return 1;
        }
        tools = ready.get();
        String prefix = "vsdemo" + Long.toHexString(ProcessHandle.current().pid());
        String nsA = prefix + "a";
        String nsB = prefix + "b";
        Path dir = Files.createTempDirectory("vswitch-demo");
        Vswitchd daemon = null;
        Thread cleanup = new Thread(() -> removeNamespaces(), "demo-cleanup");
        Runtime.getRuntime().addShutdownHook(cleanup);
        try {
            for (String ns : List.of(nsA, nsB)) {
                run(true, ip(), "netns", "add", ns);
                namespaces.add(ns);
            }
            String tapA = "vsd" + Long.toHexString(ProcessHandle.current().pid()) + "a";
            String tapB = "vsd" + Long.toHexString(ProcessHandle.current().pid()) + "b";
            Path socket = dir.resolve("vswitchd.sock");
            daemon = Vswitchd.start(new Vswitchd.Options(socket, dir, dir.resolve("vswitch.json"),
                    List.of(PortSpec.parse("tap:" + tapA + ",netns=" + nsA), PortSpec.parse("tap:" + tapB + ",queues=2,netns=" + nsB)),
                    -1, null, Duration.ZERO, 0));
            System.out.println("== switch up: ports " + tapA + " (in " + nsA + ") and " + tapB + " (in " + nsB + ", 2 queues)");
            configure(nsA, tapA, "198.18.0.1/24");
            configure(nsB, tapB, "198.18.0.2/24");

            System.out.println("\n== ping 198.18.0.2 from " + nsA);
            System.out.print(run(true, ip(), "netns", "exec", nsA, tools.path("ping"), "-c", "3", "-i", "0.2", "198.18.0.2"));

            System.out.println("\n== iperf3 TCP for " + seconds + " s, " + nsA + " -> " + nsB);
            String iperf3 = tools.path("iperf3");
            Process server = new ProcessBuilder(ip(), "netns", "exec", nsB, iperf3, "-s", "-1").redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            Thread.sleep(500);
            String out = run(true, ip(), "netns", "exec", nsA, iperf3, "-c", "198.18.0.2", "-t", Integer.toString(seconds));
            for (String line : out.split("\n")) {
                if (line.contains("sender") || line.contains("receiver")) {
                    System.out.println(line);
                }
            }
            server.waitFor(5, TimeUnit.SECONDS);
            server.destroyForcibly();

            try (ControlClient client = ControlClient.connect(socket)) {
                System.out.println("\n== learned FDB");
                Table fdb = new Table("MAC", "VLAN", "PORT", "AGE");
                for (JsonNode e : client.call("fdb-show", ClientOptions.args())) {
                    fdb.row(e.path("mac").asText(), e.path("vlan").asInt(), e.path("port").asText(),
                            String.format("%.1fs", e.path("ageSeconds").asDouble()));
                }
                System.out.print(fdb);
                System.out.println("\n== counters");
                Table t = new Table("PORT", "RX-PKTS", "RX-BYTES", "TX-PKTS", "TX-BYTES", "RX-GSO", "DROPS");
                Set<String> dropped = new TreeSet<>();
                for (JsonNode p : client.call("show", ClientOptions.args()).path("ports")) {
                    t.row(p.path("name").asText(), p.path("rxPackets").asLong(), p.path("rxBytes").asLong(),
                            p.path("txPackets").asLong(), p.path("txBytes").asLong(), p.path("rxGsoFrames").asLong(),
                            p.path("drops").toString());
                    p.path("drops").fieldNames().forEachRemaining(dropped::add);
                }
                System.out.print(t);
                for (String reason : dropped) {
                    System.out.println("  " + reason + ": " + DROP_MEANINGS.getOrDefault(reason,
                            "see DropReason in the README's counters section"));
                }
            }
            return 0;
        } finally {
            if (daemon != null) {
                try {
                    daemon.close();
                } catch (RuntimeException e) { // each failed step is logged; the demo's own clean-up still runs
                    System.err.println("vswitch demo: " + e.getMessage());
                }
            }
            removeNamespaces();
            Runtime.getRuntime().removeShutdownHook(cleanup);
            try (var files = Files.list(dir)) {
                for (Path p : files.toList()) {
                    Files.deleteIfExists(p);
                }
            }
            Files.deleteIfExists(dir);
            System.out.println("\n== cleaned up: namespaces and TAPs removed");
        }
    }

    /**
     * IPv4 only: without an IPv6 link-local address the namespace sends no IPv6 neighbour discovery
     * and multicast listener frames when its link comes up, which used to be flooded before the
     * other namespace was up and show as {@code no-output} drops in a fresh demo.
     */
    private void configure(String ns, String dev, String cidr) throws IOException, InterruptedException {
        run(true, ip(), "-n", ns, "link", "set", "lo", "up");
        run(true, ip(), "-n", ns, "link", "set", "dev", dev, "addrgenmode", "none");
        run(true, ip(), "-n", ns, "addr", "add", cidr, "dev", dev);
        run(true, ip(), "-n", ns, "link", "set", dev, "up");
    }

    private String ip() {
        return tools.path("ip");
    }

    private synchronized void removeNamespaces() {
        for (String ns : namespaces) {
            try {
                run(false, ip(), "netns", "del", ns);
            } catch (IOException | InterruptedException e) {
                System.err.println("could not remove namespace " + ns + ": " + e.getMessage());
            }
        }
        namespaces.clear();
    }

    private static String run(boolean check, String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException(String.join(" ", command) + " timed out");
        }
        if (check && p.exitValue() != 0) {
            throw new IOException(String.join(" ", command) + " failed: " + out.trim());
        }
        return out;
    }
}
