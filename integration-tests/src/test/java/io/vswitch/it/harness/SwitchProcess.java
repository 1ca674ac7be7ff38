package io.vswitch.it.harness;

import io.vswitch.core.frame.FrameLeaks;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The switch under test, run as a separate process:
 * {@code ./vswitch daemon --socket S --state-dir D --port SPEC...} from the repo root.
 *
 * <p>Its stdout and stderr go to {@code target/it-logs/<name>-vswitch.log} (each line is also
 * echoed to this JVM's stderr when the system property {@code vswitch.it.echo=true}). {@link #start}
 * returns once the daemon has printed a line containing {@code ready}; if it exits first or
 * the timeout passes, start throws with the last lines of its output (and kills it).
 *
 * <pre>{@code
 * try (Namespaces ns = new Namespaces();
 *      SwitchProcess sw = SwitchProcess.builder()
 *              .tapPort(ns.linkName("a"), 1, nsA)
 *              .tapPort(ns.linkName("b"), 1, nsB)
 *              .start()) {
 *     ExecResult r = sw.cli("port", "list");
 * }
 * }</pre>
 */
public final class SwitchProcess implements AutoCloseable {

    /** Default wait for the {@code ready} line. */
    public static final Duration DEFAULT_READY_TIMEOUT = Duration.ofSeconds(60);
    /** Default grace between SIGTERM and SIGKILL in {@link #stop()}. */
    public static final Duration DEFAULT_STOP_TIMEOUT = Duration.ofSeconds(20);

    private static final int TAIL_LINES = 50;

    private final Path repoRoot;
    private final Path socket;
    private final Path stateDir;
    private final boolean ownStateDir;
    private final Path logFile;
    private final List<String> command;
    private final Process process;
    private final Deque<String> tail = new ArrayDeque<>();
    private final CountDownLatch ready = new CountDownLatch(1);
    private final Thread pump;
    private final Thread hook;
    private volatile Integer exitCode;

    private SwitchProcess(Builder b) throws IOException {
        this.repoRoot = b.repoRoot != null ? b.repoRoot : repoRoot();
        Path exe = repoRoot.resolve("vswitch");
        if (!Files.isExecutable(exe)) {
            throw new IllegalStateException(exe + " is missing or not executable (build the CLI first)");
        }
        if (b.stateDir != null) {
            this.stateDir = Files.createDirectories(b.stateDir);
            this.ownStateDir = false;
        } else {
            // short path under /tmp: unix socket paths are limited to 107 bytes
            this.stateDir = Files.createTempDirectory(HarnessIds.next() + "-sw");
            this.ownStateDir = true;
        }
        this.socket = b.socket != null ? b.socket : stateDir.resolve("s.sock");
        this.logFile = b.logFile != null ? b.logFile
                : HarnessIds.logDir().resolve(stateDir.getFileName() + "-vswitch.log");
        Files.createDirectories(logFile.toAbsolutePath().getParent());

        List<String> cmd = new ArrayList<>(List.of(exe.toString(), "daemon",
                "--socket", socket.toString(), "--state-dir", stateDir.toString()));
        for (String p : b.ports) {
            cmd.add("--port");
            cmd.add(p);
        }
        cmd.addAll(b.extraArgs);
        this.command = List.copyOf(cmd);

        // The daemon writes straight into the log file (no pipe: nothing is lost when it exits and it
        // never blocks on us); a thread follows the file for the ready line and the tail.
        Files.writeString(logFile, "# " + String.join(" ", cmd) + "\n", StandardCharsets.UTF_8);
        ProcessBuilder pb = new ProcessBuilder(cmd)
                .directory(repoRoot.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()));
        Exec.augmentPath(pb.environment());
        pb.environment().putAll(b.env);
        if (FrameLeaks.ENABLED) {
            // The daemon checks for frame leaks as this JVM does; stop() fails on its report.
            pb.environment().merge("VSWITCH_JAVA_OPTS", "-D" + FrameLeaks.PROPERTY + "=true", (set, add) -> set + " " + add);
        }
        try {
            this.process = pb.start();
        } catch (IOException e) {
            if (ownStateDir) {
                Namespaces.deleteTree(stateDir);
            }
            throw e;
        }
        this.hook = new Thread(this::kill9, "vsit-switch-kill");
        Runtime.getRuntime().addShutdownHook(hook);
        boolean echo = Boolean.getBoolean("vswitch.it.echo");
        this.pump = new Thread(() -> pumpOutput(echo), "vsit-switch-output");
        pump.setDaemon(true);
        pump.start();
    }

    /** A builder for a daemon run from {@link #repoRoot()}. */
    public static Builder builder() {
        return new Builder();
    }

    /** Starts a daemon with these --port specs and default settings; waits for ready. */
    public static SwitchProcess start(String... portSpecs) {
        Builder b = builder();
        for (String p : portSpecs) {
            b.port(p);
        }
        return b.start();
    }

    /** The port spec {@code tap:NAME,queues=Q,netns=NS}. */
    public static String tapPort(String name, int queues, String netns) {
        return "tap:" + name + ",queues=" + queues + ",netns=" + netns;
    }

    /**
     * The repo root: the nearest directory, walking up from the working directory, that holds
     * both {@code vswitch} and {@code pom.xml}. Overridable with {@code -Dvswitch.repo=DIR}.
     */
    public static Path repoRoot() {
        String prop = System.getProperty("vswitch.repo");
        if (prop != null && !prop.isEmpty()) {
            return Path.of(prop).toAbsolutePath().normalize();
        }
        Path start = Path.of(System.getProperty("user.dir")).toAbsolutePath().normalize();
        for (Path d = start; d != null; d = d.getParent()) {
            if (Files.exists(d.resolve("vswitch")) && Files.isRegularFile(d.resolve("pom.xml"))) {
                return d;
            }
        }
        throw new IllegalStateException("no directory containing both 'vswitch' and 'pom.xml' above " + start
                + " (build the CLI, or set -Dvswitch.repo=DIR)");
    }

    private void pumpOutput(boolean echo) {
        try (InputStream in = Files.newInputStream(logFile)) {
            ByteArrayOutputStream line = new ByteArrayOutputStream();
            byte[] buf = new byte[8192];
            boolean header = true;
            while (true) {
                boolean exited = !process.isAlive(); // sample before reading: then a last read gets all
                int n = in.read(buf);
                if (n > 0) {
                    for (int i = 0; i < n; i++) {
                        if (buf[i] == '\n') {
                            if (!header) {
                                onLine(line.toString(StandardCharsets.UTF_8), echo);
                            }
                            header = false;
                            line.reset();
                        } else {
                            line.write(buf[i]);
                        }
                    }
                } else if (exited) {
                    if (line.size() > 0) {
                        onLine(line.toString(StandardCharsets.UTF_8), echo);
                    }
                    return;
                } else {
                    Thread.sleep(20);
                }
            }
        } catch (IOException e) {
            System.err.println("[vsit] following " + logFile + ": " + e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void onLine(String line, boolean echo) {
        synchronized (tail) {
            tail.addLast(line);
            while (tail.size() > TAIL_LINES) {
                tail.removeFirst();
            }
        }
        if (echo) {
            System.err.println("[vswitch " + process.pid() + "] " + line);
        }
        if (line.contains("ready")) {
            ready.countDown();
        }
    }

    private void awaitReady(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        try {
            while (!ready.await(100, TimeUnit.MILLISECONDS)) {
                if (!process.isAlive()) {
                    pump.join(2000);
                    if (ready.getCount() == 0) {
                        break; // printed ready and exited at once: let the test see that
                    }
                    throw new IllegalStateException("vswitch daemon exited with " + process.exitValue()
                            + " before printing 'ready'; log " + logFile + ":\n" + outputTail());
                }
                if (System.nanoTime() > deadline) {
                    kill9();
                    throw new IllegalStateException("vswitch daemon printed no 'ready' line within " + timeout
                            + "; killed; log " + logFile + ":\n" + outputTail());
                }
            }
        } catch (InterruptedException e) {
            kill9();
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted waiting for vswitch daemon", e);
        }
    }

    // ------------------------------------------------------------------ accessors

    public long pid() {
        return process.pid();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    public Path socket() {
        return socket;
    }

    public Path stateDir() {
        return stateDir;
    }

    public Path logFile() {
        return logFile;
    }

    public Path repo() {
        return repoRoot;
    }

    public List<String> command() {
        return command;
    }

    /** The last lines the daemon printed (up to 50). */
    public String outputTail() {
        synchronized (tail) {
            return String.join("\n", tail);
        }
    }

    /** Everything the daemon printed so far (the log file). */
    public String output() {
        try {
            return Files.exists(logFile) ? Files.readString(logFile, StandardCharsets.UTF_8) : outputTail();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The exit code once it has exited (after stop()/kill9() or by itself), else null. */
    public Integer exitCode() {
        if (exitCode == null && !process.isAlive()) {
            exitCode = process.exitValue();
        }
        return exitCode;
    }

    // ------------------------------------------------------------------ control

    /** {@code ./vswitch --socket S args...} from the repo root, 30 s timeout. */
    public ExecResult cli(String... args) {
        return cli(Exec.DEFAULT_TIMEOUT, args);
    }

    /** {@code ./vswitch --socket S args...} from the repo root with a timeout. */
    public ExecResult cli(Duration timeout, String... args) {
        List<String> cmd = new ArrayList<>(List.of(repoRoot.resolve("vswitch").toString(), "--socket", socket.toString()));
        cmd.addAll(Arrays.asList(args));
        return Exec.run(timeout, repoRoot, cmd);
    }

    /** SIGTERM, wait up to 20 s, then SIGKILL. Returns the exit code (143 or -1 style codes if killed). */
    public int stop() {
        return stop(DEFAULT_STOP_TIMEOUT);
    }

    /** SIGTERM, wait up to timeout, then SIGKILL (it and its descendants). Returns the exit code. */
    public int stop(Duration timeout) {
        int code = Exec.stop(process, timeout);
        exitCode = code;
        joinPump();
        failOnLeakReport();
        return code;
    }

    /** Fails if the daemon, run with frame-leak detection, reported a frame it never released. */
    private void failOnLeakReport() {
        String log;
        try {
            log = Files.readString(logFile, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        int at = log.indexOf("LEAK: ");
        if (at >= 0) {
            throw new AssertionError("the daemon leaked frames (see " + logFile + "):\n"
                    + log.substring(at, Math.min(log.length(), at + 4000)));
        }
    }

    /** SIGKILL now (it and its descendants), as a crash would. Returns the exit code. */
    public int kill9() {
        Exec.killTree(process.toHandle(), true);
        try {
            process.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        exitCode = process.isAlive() ? -1 : process.exitValue();
        return exitCode;
    }

    /** Waits for it to exit by itself; returns true if it did within timeout. */
    public boolean waitForExit(Duration timeout) {
        try {
            return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** stop() if still running, and removes the state dir if the harness made it. */
    @Override
    public void close() {
        if (process.isAlive()) {
            stop();
        }
        joinPump();
        if (ownStateDir) {
            Namespaces.deleteTree(stateDir);
        }
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException ignored) {
            // JVM shutting down
        }
    }

    private void joinPump() {
        try {
            pump.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return "SwitchProcess[pid " + process.pid() + ", socket " + socket + "]";
    }

    /** Options for {@link SwitchProcess}; {@link #start()} launches it and waits for ready. */
    public static final class Builder {
        private final List<String> ports = new ArrayList<>();
        private final List<String> extraArgs = new ArrayList<>();
        private final Map<String, String> env = new LinkedHashMap<>();
        private Path repoRoot;
        private Path stateDir;
        private Path socket;
        private Path logFile;
        private Duration readyTimeout = DEFAULT_READY_TIMEOUT;

        private Builder() {
        }

        /** Adds {@code --port spec}. */
        public Builder port(String spec) {
            ports.add(Objects.requireNonNull(spec));
            return this;
        }

        /** Adds {@code --port tap:name,queues=q,netns=ns}. */
        public Builder tapPort(String name, int queues, String netns) {
            return port(SwitchProcess.tapPort(name, queues, netns));
        }

        /** Extra daemon arguments after the ports. */
        public Builder args(String... args) {
            extraArgs.addAll(Arrays.asList(args));
            return this;
        }

        /** An environment variable for the daemon (e.g. JAVA_OPTS). */
        public Builder env(String key, String value) {
            env.put(key, value);
            return this;
        }

        /** Repo root holding ./vswitch (default {@link SwitchProcess#repoRoot()}). */
        public Builder repoRoot(Path dir) {
            repoRoot = dir;
            return this;
        }

        /** --state-dir (default: a fresh temp dir, deleted on close). Reuse one to test restarts. */
        public Builder stateDir(Path dir) {
            stateDir = dir;
            return this;
        }

        /** --socket (default: STATE_DIR/s.sock). */
        public Builder socket(Path path) {
            socket = path;
            return this;
        }

        /** Log file (default target/it-logs/NAME-vswitch.log). */
        public Builder logFile(Path path) {
            logFile = path;
            return this;
        }

        /** How long to wait for the ready line (default 60 s). */
        public Builder readyTimeout(Duration timeout) {
            readyTimeout = timeout;
            return this;
        }

        /** Starts the daemon and waits for its ready line; throws IllegalStateException if it fails. */
        public SwitchProcess start() {
            SwitchProcess p;
            try {
                p = new SwitchProcess(this);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot start vswitch daemon", e);
            }
            try {
                p.awaitReady(readyTimeout);
            } catch (RuntimeException e) {
                p.close();
                throw e;
            }
            return p;
        }
    }
}
