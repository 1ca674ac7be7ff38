package io.vswitch.it.harness;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Network namespaces for one test (class), removed on {@link #close()}.
 *
 * <p>Every namespace and link name starts with {@code vsit<pid hex>x} (this JVM's pid), so names
 * are unique per test run, never clash with anything else on the machine, and leftovers of a
 * crashed run can be found by {@link #sweepStale()} (which the first instance in a JVM runs).
 * {@link #close()} kills every process it started and every process still inside its
 * namespaces, deletes the namespaces and any root-namespace link it named; it is idempotent
 * and also runs from a JVM shutdown hook, so an aborted test run cleans up too.
 *
 * <p>Tests must use addresses from 198.18.0.0/15 only (e.g. 198.18.0.1/24 and 198.18.0.2/24).
 *
 * <pre>{@code
 * try (Namespaces ns = new Namespaces()) {
 *     String a = ns.create("a"), b = ns.create("b");
 *     String va = ns.linkName("a"), vb = ns.linkName("b");
 *     ns.vethPair(a, va, b, vb);
 *     ns.addAddress(a, va, "198.18.0.1/24"); ns.linkUp(a, va);
 *     ns.addAddress(b, vb, "198.18.0.2/24"); ns.linkUp(b, vb);
 *     assertTrue(ns.ping(a, "198.18.0.2", 3).allReceived());
 * }
 * }</pre>
 */
public final class Namespaces implements AutoCloseable {

    private static final AtomicBoolean SWEPT = new AtomicBoolean();
    private static final Pattern LINK = Pattern.compile("^\\d+:\\s+([^:@\\s]+)", Pattern.MULTILINE);

    private final List<String> namespaces = Collections.synchronizedList(new ArrayList<>());
    private final List<String> links = Collections.synchronizedList(new ArrayList<>());
    private final List<BackgroundProcess> processes = Collections.synchronizedList(new ArrayList<>());
    private final Duration timeout;
    private final Thread hook;
    private final AtomicBoolean closed = new AtomicBoolean();

    /** Namespaces whose commands time out after {@link Exec#DEFAULT_TIMEOUT}. */
    public Namespaces() {
        this(Exec.DEFAULT_TIMEOUT);
    }

    /** Namespaces whose {@link #exec(String, String...)} commands time out after timeout. */
    public Namespaces(Duration timeout) {
        this.timeout = timeout;
        if (SWEPT.compareAndSet(false, true)) {
            sweepStale();
        }
        hook = new Thread(this::cleanup, "vsit-namespaces-cleanup");
        Runtime.getRuntime().addShutdownHook(hook);
    }

    /** The prefix shared by every name of this test run, e.g. {@code vsit1a2bx}. */
    public static String runPrefix() {
        return HarnessIds.RUN_PREFIX;
    }

    // ------------------------------------------------------------------ namespaces and links

    /** Creates a namespace with a fresh unique name (with loopback up) and returns the name. */
    public String create() {
        return create(null);
    }

    /** Creates a namespace named {@code <run prefix><n>-<role>} (loopback up); returns the name. */
    public String create(String role) {
        ensureOpen();
        String name = HarnessIds.next(role, false);
        Exec.run(timeout, "ip", "netns", "add", name).orThrow();
        namespaces.add(name);
        Exec.run(timeout, "ip", "-n", name, "link", "set", "lo", "up").orThrow();
        return name;
    }

    /** Namespaces created so far (not yet deleted). */
    public List<String> list() {
        synchronized (namespaces) {
            return List.copyOf(namespaces);
        }
    }

    /**
     * A fresh unique interface name (at most 15 characters) for a link or TAP the test is about
     * to create; close() deletes it if it is still in the root namespace. Keep role short (1-3 chars).
     */
    public String linkName(String role) {
        String n = HarnessIds.next(role, true);
        links.add(n);
        return n;
    }

    /** Creates a veth pair with one end in each namespace (MTU 1500, both ends down). */
    public void vethPair(String nsA, String devA, String nsB, String devB) {
        Exec.run(timeout, "ip", "link", "add", "name", devA, "netns", nsA, "mtu", "1500", "type", "veth",
                "peer", "name", devB, "netns", nsB, "mtu", "1500").orThrow();
    }

    /** Moves a link from the root namespace into ns. */
    public void moveLink(String dev, String ns) {
        Exec.run(timeout, "ip", "link", "set", "dev", dev, "netns", ns).orThrow();
    }

    /** {@code ip -n ns addr add cidr dev dev}; cidr like 198.18.0.1/24. */
    public void addAddress(String ns, String dev, String cidr) {
        Exec.run(timeout, "ip", "-n", ns, "addr", "add", cidr, "dev", dev).orThrow();
    }

    /** {@code ip -n ns link set dev dev up}. */
    public void linkUp(String ns, String dev) {
        Exec.run(timeout, "ip", "-n", ns, "link", "set", "dev", dev, "up").orThrow();
    }

    /** {@code ip -n ns link set dev dev down}. */
    public void linkDown(String ns, String dev) {
        Exec.run(timeout, "ip", "-n", ns, "link", "set", "dev", dev, "down").orThrow();
    }

    /** {@code ip -n ns link set dev dev mtu mtu}. */
    public void setMtu(String ns, String dev, int mtu) {
        Exec.run(timeout, "ip", "-n", ns, "link", "set", "dev", dev, "mtu", Integer.toString(mtu)).orThrow();
    }

    /** Whether dev exists in ns. */
    public boolean linkExists(String ns, String dev) {
        return Exec.run(timeout, "ip", "-n", ns, "link", "show", "dev", dev).ok();
    }

    /** Waits until dev exists in ns; throws IllegalStateException after max. */
    public void waitForLink(String ns, String dev, Duration max) {
        long deadline = System.nanoTime() + max.toNanos();
        while (!linkExists(ns, dev)) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("link " + dev + " did not appear in netns " + ns + " within " + max);
            }
            sleep(100);
        }
    }

    /** The MAC address of dev in ns, lower case. */
    public String macAddress(String ns, String dev) {
        String out = Exec.run(timeout, "ip", "-n", ns, "-o", "link", "show", "dev", dev).orThrow().stdout();
        Matcher m = Pattern.compile("link/ether ([0-9a-f:]{17})").matcher(out);
        if (!m.find()) {
            throw new IllegalStateException("no MAC for " + dev + " in " + ns + ": " + out);
        }
        return m.group(1);
    }

    // ------------------------------------------------------------------ commands

    /** Runs cmd inside ns ({@code ip netns exec ns cmd...}) with this instance's timeout. */
    public ExecResult exec(String ns, String... cmd) {
        return exec(ns, timeout, cmd);
    }

    /** Runs cmd inside ns with the given timeout; the result tells exit code, output, timeout. */
    public ExecResult exec(String ns, Duration timeout, String... cmd) {
        return Exec.run(timeout, null, nsCommand(ns, cmd));
    }

    /** {@code ping -n -c count -i 0.2 -W 1 ip} from ns. */
    public PingResult ping(String ns, String ip, int count) {
        return ping(ns, ip, count, 0.2);
    }

    /** {@code ping -n -c count -i interval -W 1 ip} from ns (interval below 0.2 s needs root). */
    public PingResult ping(String ns, String ip, int count, double intervalSeconds) {
        Duration t = Duration.ofMillis((long) (count * intervalSeconds * 1000) + 10_000);
        ExecResult r = exec(ns, t, "ping", "-n", "-c", Integer.toString(count), "-i",
                Double.toString(intervalSeconds), "-W", "1", ip);
        return PingResult.parse(r, count);
    }

    /** iputils {@code arping -c count -w deadline -I dev ip} from ns. */
    public ArpingResult arping(String ns, String dev, String ip, int count) {
        int deadline = count + 2;
        ExecResult r = exec(ns, Duration.ofSeconds(deadline + 10L), "arping", "-c", Integer.toString(count),
                "-w", Integer.toString(deadline), "-I", dev, ip);
        return ArpingResult.parse(r);
    }

    /**
     * Starts cmd inside ns in the background, output to {@code target/it-logs/<name>.log}.
     * close() stops it if the test does not.
     */
    public BackgroundProcess startBackground(String ns, String... cmd) {
        ensureOpen();
        List<String> full = nsCommand(ns, cmd);
        String base = cmd.length == 0 ? "bg" : Path.of(cmd[0]).getFileName().toString();
        Path log = HarnessIds.logDir().resolve(HarnessIds.next(base.replaceAll("[^A-Za-z0-9_.-]", "_"), false) + ".log");
        ProcessBuilder pb = new ProcessBuilder(full)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        Exec.augmentPath(pb.environment());
        try {
            BackgroundProcess p = new BackgroundProcess(full, pb.start(), log);
            processes.add(p);
            return p;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + String.join(" ", full), e);
        }
    }

    /**
     * Starts {@code iperf3 -s -B bindIp} in ns and waits (up to 10 s) until it listens on 5201.
     */
    public BackgroundProcess iperf3Server(String ns, String bindIp) {
        BackgroundProcess p = startBackground(ns, "iperf3", "-s", "-B", bindIp, "-p", "5201");
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (!exec(ns, "ss", "-Hltn", "sport = :5201").stdout().contains("5201")) {
            if (!p.isAlive() || System.nanoTime() > deadline) {
                p.stop();
                throw new IllegalStateException("iperf3 server did not start in " + ns + ": " + p.output());
            }
            sleep(50);
        }
        return p;
    }

    // ------------------------------------------------------------------ teardown

    /** Deletes one namespace now (killing whatever still runs inside it). */
    public void delete(String ns) {
        deleteNamespace(ns);
        namespaces.remove(ns);
    }

    /** Stops every process this instance started and deletes every namespace and link it made. */
    @Override
    public void close() {
        cleanup();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException ignored) {
            // the JVM is shutting down: the hook is running or has run
        }
    }

    private void cleanup() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        List<BackgroundProcess> procs;
        synchronized (processes) {
            procs = new ArrayList<>(processes);
            processes.clear();
        }
        Collections.reverse(procs);
        for (BackgroundProcess p : procs) {
            try {
                p.stop();
            } catch (RuntimeException e) {
                System.err.println("[vsit] stopping " + p + ": " + e);
            }
        }
        List<String> nss = new ArrayList<>(list());
        Collections.reverse(nss);
        for (String ns : nss) {
            try {
                deleteNamespace(ns);
            } catch (RuntimeException e) {
                System.err.println("[vsit] deleting netns " + ns + ": " + e);
            }
        }
        namespaces.clear();
        try {
            List<String> root = rootLinks();
            synchronized (links) {
                for (String l : links) {
                    if (root.contains(l)) {
                        Exec.run(Duration.ofSeconds(10), "ip", "link", "del", "dev", l);
                    }
                }
                links.clear();
            }
        } catch (RuntimeException e) {
            System.err.println("[vsit] deleting links: " + e);
        }
    }

    private void ensureOpen() {
        if (closed.get()) {
            throw new IllegalStateException("Namespaces already closed");
        }
    }

    // ------------------------------------------------------------------ static helpers

    /**
     * Deletes namespaces, root-namespace links and temp dirs whose names carry the harness prefix
     * of a test run whose JVM is gone, killing processes inside those namespaces or running from
     * those temp dirs. Returns what it removed. Safe while other harness runs are alive.
     */
    public static List<String> sweepStale() {
        List<String> removed = new ArrayList<>();
        ExecResult nsList = Exec.run(Duration.ofSeconds(10), "ip", "netns", "list");
        for (String line : nsList.stdout().split("\n")) {
            String ns = line.trim().split("\\s+")[0];
            if (!ns.isEmpty() && HarnessIds.isStale(ns)) {
                deleteNamespace(ns);
                removed.add("netns " + ns);
            }
        }
        for (String l : rootLinks()) {
            if (HarnessIds.isStale(l)) {
                Exec.run(Duration.ofSeconds(10), "ip", "link", "del", "dev", l);
                removed.add("link " + l);
            }
        }
        Path tmp = Path.of(System.getProperty("java.io.tmpdir"));
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(tmp, HarnessIds.PREFIX + "*")) {
            for (Path d : ds) {
                if (Files.isDirectory(d) && HarnessIds.isStale(d.getFileName().toString())) {
                    killProcessesMentioning(d.toString());
                    deleteTree(d);
                    removed.add("dir " + d);
                }
            }
        } catch (IOException e) {
            System.err.println("[vsit] sweeping " + tmp + ": " + e);
        }
        for (String r : removed) {
            System.err.println("[vsit] removed stale " + r);
        }
        return removed;
    }

    static List<String> nsCommand(String ns, String... cmd) {
        List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", ns));
        full.addAll(Arrays.asList(cmd));
        return full;
    }

    static void deleteNamespace(String ns) {
        for (int i = 0; i < 3; i++) {
            ExecResult pids = Exec.run(Duration.ofSeconds(10), "ip", "netns", "pids", ns);
            boolean any = false;
            for (String s : pids.stdout().split("\\s+")) {
                if (s.matches("\\d+")) {
                    any = true;
                    ProcessHandle.of(Long.parseLong(s)).ifPresent(ProcessHandle::destroyForcibly);
                }
            }
            if (!any) {
                break;
            }
            sleep(200);
        }
        Exec.run(Duration.ofSeconds(15), "ip", "netns", "del", ns);
    }

    static List<String> rootLinks() {
        ExecResult r = Exec.run(Duration.ofSeconds(10), "ip", "-o", "link", "show");
        List<String> out = new ArrayList<>();
        Matcher m = LINK.matcher(r.stdout());
        while (m.find()) {
            out.add(m.group(1));
        }
        return out;
    }

    /** SIGKILLs processes whose command line contains s (daemons of a stale state dir), with their descendants. */
    static void killProcessesMentioning(String s) {
        long me = ProcessHandle.current().pid();
        ProcessHandle.allProcesses()
                .filter(h -> h.pid() != me)
                .filter(h -> h.info().commandLine().map(c -> c.contains(s)).orElse(false)
                        || h.info().arguments().map(a -> String.join(" ", a).contains(s)).orElse(false))
                .forEach(h -> Exec.killTree(h, true));
    }

    static void deleteTree(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (var walk = Files.walk(root)) {
            walk.sorted(Collections.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException ignored) {
                    // best effort
                }
            });
        } catch (IOException ignored) {
            // best effort
        }
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }
}
