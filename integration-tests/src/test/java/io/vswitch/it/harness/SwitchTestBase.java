package io.vswitch.it.harness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vswitch.it.harness.BackgroundProcess;
import io.vswitch.it.harness.Exec;
import io.vswitch.it.harness.ExecResult;
import io.vswitch.it.harness.Namespaces;
import io.vswitch.it.harness.Requirements;
import io.vswitch.it.harness.SwitchProcess;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/**
 * Base of the integration tests: fresh namespaces per test, daemons started through
 * {@link #start}, temp dirs and other leftovers registered for removal, all torn down after each
 * test even when it fails. The current daemon is {@link #sw}; {@link #cli} talks to it.
 */
public abstract class SwitchTestBase {
    protected static final ObjectMapper JSON = new ObjectMapper();

    protected Namespaces ns;
    /** The daemon the cli helpers talk to: the one started last. */
    protected SwitchProcess sw;

    private final List<SwitchProcess> switches = new ArrayList<>();
    private final List<Path> tempDirs = new ArrayList<>();
    private final List<Runnable> cleanups = new ArrayList<>();
    private final Map<String, Path> scripts = new HashMap<>();

    /** A namespace on the switch: its name, its TAP (= port name), address and MAC. */
    protected record Host(String netns, String port, String ip, String mac) {
    }

    @BeforeEach
    protected void createNamespaces() {
        Requirements.check();
        ns = new Namespaces();
    }

    @AfterEach
    protected void tearDown() {
        List<Runnable> steps = new ArrayList<>(cleanups);
        Collections.reverse(steps);
        List<SwitchProcess> sws = new ArrayList<>(switches);
        Collections.reverse(sws);
        sws.forEach(s -> steps.add(s::close));
        if (ns != null) {
            steps.add(ns::close);
        }
        tempDirs.forEach(d -> steps.add(() -> deleteTree(d)));
        RuntimeException first = null;
        for (Runnable step : steps) {
            try {
                step.run();
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }

    // ------------------------------------------------------------------ daemons

    /** Starts a daemon with default settings (fresh state dir) and makes it {@link #sw}. */
    protected SwitchProcess start() {
        return start(SwitchProcess.builder());
    }

    /** Starts the daemon the builder describes, registers it for teardown, makes it {@link #sw}. */
    protected SwitchProcess start(SwitchProcess.Builder builder) {
        SwitchProcess p = builder.start();
        switches.add(p);
        sw = p;
        return p;
    }

    /** A log file under target/it-logs (for a daemon started on a reused state dir). */
    protected static Path logFile(String name) {
        Path dir = Path.of(System.getProperty("user.dir"), "target", "it-logs");
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return dir.resolve(Namespaces.runPrefix() + System.nanoTime() + "-" + name + ".log");
    }

    /** A fresh directory under /tmp named with this run's prefix (so a crashed run's is swept), removed after the test. */
    protected Path tempDir(String role) {
        try {
            Path d = Files.createTempDirectory(Path.of("/tmp"), Namespaces.runPrefix() + "ctl-" + role + "-");
            tempDirs.add(d);
            return d;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Runs action after the test, before daemons, namespaces and temp dirs go; in reverse order of registration. */
    protected void onCleanup(Runnable action) {
        cleanups.add(action);
    }

    // ------------------------------------------------------------------ hosts

    /** A namespace (IPv6 off) with a TAP port added by {@code add-port ... portOptions}, address cidr, link up. */
    protected Host host(String role, String cidr, String... portOptions) {
        String netns = ns.create(role);
        ns.exec(netns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1").orThrow();
        ns.exec(netns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1").orThrow();
        String port = ns.linkName(role);
        List<String> args = new ArrayList<>(List.of("add-port", port, "--type", "tap", "--netns", netns));
        args.addAll(List.of(portOptions));
        cli(args.toArray(String[]::new));
        return configure(netns, port, cidr);
    }

    /**
     * A veth from the root namespace into {@code netns}, as a host's NIC or a container's veth looks to
     * the switch: the root-namespace end ({@code ns.linkName(role)}, IPv6 off, up) is returned for
     * {@code add-port --type system}; the end named {@code inside} is left for the caller to configure.
     */
    protected String rootVeth(String role, String netns, String inside) {
        String rootEnd = ns.linkName(role);
        Exec.run("ip", "link", "add", "name", rootEnd, "type", "veth", "peer", "name", inside, "netns", netns).orThrow();
        Exec.run("sysctl", "-qw", "net.ipv6.conf." + rootEnd + ".disable_ipv6=1").orThrow();
        Exec.run("ip", "link", "set", "dev", rootEnd, "up").orThrow();
        return rootEnd;
    }

    /** Puts cidr on port in netns and brings it up (again after a restart re-created the TAP). */
    protected Host configure(String netns, String port, String cidr) {
        ns.waitForLink(netns, port, Duration.ofSeconds(10));
        if (cidr != null) {
            ns.addAddress(netns, port, cidr);
        }
        ns.linkUp(netns, port);
        return new Host(netns, port, cidr == null ? null : cidr.substring(0, cidr.indexOf('/')), ns.macAddress(netns, port));
    }

    /** {@code iperf3 -J -t seconds extra...} from client to server (started and stopped here); must exit 0. */
    protected JsonNode iperf3(Host client, Host server, int seconds, String... extra) {
        try (BackgroundProcess s = ns.iperf3Server(server.netns(), server.ip())) {
            List<String> cmd = new ArrayList<>(List.of("iperf3", "-c", server.ip(), "-J", "-t", Integer.toString(seconds)));
            cmd.addAll(List.of(extra));
            ExecResult r = ns.exec(client.netns(), Duration.ofSeconds(seconds + 27L), cmd.toArray(String[]::new));
            assertTrue(r.ok(), r::describe);
            return JSON.readTree(r.stdout());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Two tagged ARP probes from {@code from}'s port in VLAN {@code vid} ({@code vlan-arp-probe.py}
     * on a packet socket: this kernel has no 8021q module for VLAN subinterfaces).
     */
    protected ExecResult vlanArpProbe(Host from, int vid, String srcIp, String dstIp) {
        return ns.exec(from.netns(), Duration.ofSeconds(15), "python3", script("vlan-arp-probe.py").toString(),
                from.port(), Integer.toString(vid), srcIp, dstIp, "2");
    }

    /**
     * Waits on {@code at}'s port for the first frame from {@code srcMac} ({@code raw-frame.py capture}, a
     * packet socket that puts an outer tag the kernel moved into metadata back): its output, once the
     * process ends, is "ready" and the frame's bytes as hex, exactly as on the wire.
     */
    protected BackgroundProcess captureFrame(Host at, String srcMac) {
        BackgroundProcess p = ns.startBackground(at.netns(), "python3", script("raw-frame.py").toString(), "capture",
                at.port(), srcMac, "15");
        await(Duration.ofSeconds(10), () -> p.output().contains("ready"), () -> at.port() + " capture not ready: "
                + p.output());
        return p;
    }

    /** The hex frame {@link #captureFrame} saw, after waiting for it. */
    protected static String capturedFrame(BackgroundProcess capture, String where) {
        assertEquals(0, capture.waitFor(Duration.ofSeconds(20)), () -> where + " got no frame: " + capture.output());
        return capture.output().replace("ready", "").trim();
    }

    /** Writes {@code hexFrame} byte for byte out of {@code from}'s port ({@code raw-frame.py send}). */
    protected void sendFrame(Host from, String hexFrame) {
        ExecResult sent = ns.exec(from.netns(), Duration.ofSeconds(10), "python3", script("raw-frame.py").toString(),
                "send", from.port(), hexFrame);
        assertTrue(sent.ok(), sent::describe);
    }

    /** The test resource {@code name} (a helper script) as a file, written once per test and removed after it. */
    private Path script(String name) {
        Path file = scripts.get(name);
        if (file == null) {
            try (InputStream in = SwitchTestBase.class.getResourceAsStream("/" + name)) {
                file = Files.createTempFile(Namespaces.runPrefix() + "script-", "-" + name);
                Files.write(file, in.readAllBytes());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            Path created = file;
            onCleanup(() -> {
                try {
                    Files.deleteIfExists(created);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            scripts.put(name, file);
        }
        return file;
    }

    // ------------------------------------------------------------------ the client

    /** {@code ./vswitch --socket S args...} against {@link #sw}; must exit 0. */
    protected ExecResult cli(String... args) {
        ExecResult r = sw.cli(args);
        assertTrue(r.ok(), () -> "vswitch " + String.join(" ", args) + " failed: " + r.describe() + "\n--- daemon:\n" + sw.outputTail());
        return r;
    }

    /** {@code ./vswitch --socket S args...} against {@link #sw}; must exit with code. */
    protected ExecResult cliFails(int code, String... args) {
        ExecResult r = sw.cli(args);
        assertTrue(r.exitCode() == code && !r.timedOut(),
                () -> "expected exit " + code + " from vswitch " + String.join(" ", args) + ": " + r.describe());
        return r;
    }

    /** {@code ./vswitch args...} exactly as given (no --socket added), from the repo root. */
    protected static ExecResult vswitch(String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(SwitchProcess.repoRoot().resolve("vswitch").toString());
        cmd.addAll(Arrays.asList(args));
        return Exec.run(Exec.DEFAULT_TIMEOUT, SwitchProcess.repoRoot(), cmd);
    }

    /** {@code ./vswitch --socket S args... --json}, parsed. */
    protected JsonNode json(String... args) {
        String[] withJson = Arrays.copyOf(args, args.length + 1);
        withJson[args.length] = "--json";
        ExecResult r = cli(withJson);
        try {
            JsonNode node = JSON.readTree(r.stdout());
            assertNotEquals(null, node, () -> "no JSON from " + r.describe());
            return node;
        } catch (IOException e) {
            throw new AssertionError("not JSON: " + e.getMessage() + "\n" + r.describe(), e);
        }
    }

    /** The port's entry in {@code show --json}. */
    protected JsonNode port(String name) {
        JsonNode show = json("show");
        for (JsonNode p : show.path("ports")) {
            if (p.path("name").asText().equals(name)) {
                return p;
            }
        }
        throw new AssertionError("port " + name + " not in show: " + show);
    }

    /** FDB entries from {@code fdb show --json} as "mac port vlan" strings. */
    protected List<String> fdb() {
        List<String> out = new ArrayList<>();
        for (JsonNode e : json("fdb", "show")) {
            out.add(e.path("mac").asText() + " " + e.path("port").asText() + " " + e.path("vlan").asInt());
        }
        return out;
    }

    /** Names of the ports in {@code show --json}. */
    protected List<String> portNames() {
        List<String> names = new ArrayList<>();
        json("show").path("ports").forEach(p -> names.add(p.path("name").asText()));
        return names;
    }

    /** The complete JSON documents in text, one after another (a trailing partial one is ignored). */
    protected static List<JsonNode> jsonDocs(String text) {
        List<JsonNode> docs = new ArrayList<>();
        try (JsonParser parser = JSON.createParser(text)) {
            while (parser.nextToken() != null) {
                docs.add(JSON.readTree(parser));
            }
        } catch (IOException e) {
            // an incomplete document at the end: still being written
        }
        return docs;
    }

    // ------------------------------------------------------------------ misc

    /** Starts a client in the background; stdout and stderr go to files in dir. */
    protected static Process startClient(Path dir, String name, String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(SwitchProcess.repoRoot().resolve("vswitch").toString());
        cmd.addAll(Arrays.asList(args));
        ProcessBuilder pb = new ProcessBuilder(cmd)
                .directory(SwitchProcess.repoRoot().toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(dir.resolve(name + ".out").toFile())
                .redirectError(dir.resolve(name + ".err").toFile());
        try {
            return pb.start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    protected static String read(Path file) {
        try {
            return Files.exists(file) ? Files.readString(file, StandardCharsets.UTF_8) : "";
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Polls condition every 100 ms until it holds; fails with what() after max. */
    protected static void await(Duration max, BooleanSupplier condition, Supplier<String> what) {
        long deadline = System.nanoTime() + max.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail("timed out after " + max + ": " + what.get());
            }
            sleep(100);
        }
    }

    protected static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    protected static void deleteTree(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (var walk = Files.walk(root)) {
            walk.sorted(Collections.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    System.err.println("[vsit] cannot delete " + p + ": " + e);
                }
            });
        } catch (IOException e) {
            System.err.println("[vsit] cannot delete " + root + ": " + e);
        }
    }

    /** Kills a client process and its descendants (the launcher execs java, so usually just one). */
    protected static void kill(Process p) {
        if (p != null && p.isAlive()) {
            Exec.killTree(p.toHandle(), true);
        }
    }
}
