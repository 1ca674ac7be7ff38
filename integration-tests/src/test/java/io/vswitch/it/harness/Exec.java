package io.vswitch.it.harness;

import java.io.ByteArrayOutputStream;
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
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/** Runs external commands with a timeout; plain JDK. */
public final class Exec {

    /** Default timeout of a harness command. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(30);

    /** Directories added to PATH for child processes: ip, ovs-* and friends live in sbin. */
    private static final List<String> EXTRA_PATH = List.of("/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin");

    private Exec() {
    }

    /** Runs cmd in the root namespace with {@link #DEFAULT_TIMEOUT}. */
    public static ExecResult run(String... cmd) {
        return run(DEFAULT_TIMEOUT, null, Arrays.asList(cmd));
    }

    /** Runs cmd with a timeout; on timeout the process and its descendants are killed. */
    public static ExecResult run(Duration timeout, String... cmd) {
        return run(timeout, null, Arrays.asList(cmd));
    }

    /**
     * Runs cmd in directory cwd (null: inherited) with a timeout. Never throws for a
     * non-zero exit or a timeout: look at the result (or call {@link ExecResult#orThrow()}).
     * Throws {@link UncheckedIOException} if the program cannot be started at all.
     */
    public static ExecResult run(Duration timeout, Path cwd, List<String> cmd) {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        if (cwd != null) {
            pb.directory(cwd.toFile());
        }
        augmentPath(pb.environment());
        long t0 = System.nanoTime();
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + String.join(" ", cmd), e);
        }
        Drain out = new Drain(p.getInputStream(), "exec-out");
        Drain err = new Drain(p.getErrorStream(), "exec-err");
        boolean timedOut = false;
        int code;
        try {
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                timedOut = true;
                killTree(p.toHandle(), true);
                p.waitFor(5, TimeUnit.SECONDS);
            }
            code = timedOut ? -1 : p.exitValue();
        } catch (InterruptedException e) {
            killTree(p.toHandle(), true);
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while running " + String.join(" ", cmd), e);
        }
        // A background grandchild may hold the pipes open: do not wait for it forever.
        String so = out.text(Duration.ofSeconds(2));
        String se = err.text(Duration.ofSeconds(2));
        return new ExecResult(cmd, code, so, se, timedOut, Duration.ofNanos(System.nanoTime() - t0));
    }

    /** Adds the sbin directories to PATH (for non-root shells that lack them). */
    static void augmentPath(Map<String, String> env) {
        Set<String> dirs = new LinkedHashSet<>();
        String path = env.getOrDefault("PATH", "");
        if (!path.isEmpty()) {
            dirs.addAll(Arrays.asList(path.split(File.pathSeparator)));
        }
        dirs.addAll(EXTRA_PATH);
        env.put("PATH", String.join(File.pathSeparator, dirs));
    }

    /** Looks a program up on PATH plus the sbin directories. */
    public static Optional<Path> which(String program) {
        if (program.contains("/")) {
            Path p = Path.of(program);
            return Files.isExecutable(p) ? Optional.of(p) : Optional.empty();
        }
        List<String> dirs = new ArrayList<>();
        String path = System.getenv("PATH");
        if (path != null) {
            dirs.addAll(Arrays.asList(path.split(File.pathSeparator)));
        }
        dirs.addAll(EXTRA_PATH);
        for (String d : dirs) {
            if (d.isEmpty()) {
                continue;
            }
            Path p = Path.of(d, program);
            if (Files.isRegularFile(p) && Files.isExecutable(p)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    /** Sends SIGTERM (force=false) or SIGKILL (force=true) to a process and all its descendants. */
    public static void killTree(ProcessHandle h, boolean force) {
        List<ProcessHandle> all = new ArrayList<>();
        h.descendants().forEach(all::add);
        all.add(h);
        for (ProcessHandle p : all) {
            if (force) {
                p.destroyForcibly();
            } else {
                p.destroy();
            }
        }
    }

    /**
     * Stops a process: SIGTERM, wait up to grace, then SIGKILL to it and its descendants.
     * Returns the exit code (or -1 if unknown).
     */
    public static int stop(Process p, Duration grace) {
        if (!p.isAlive()) {
            return p.exitValue();
        }
        List<ProcessHandle> kids = new ArrayList<>();
        p.descendants().forEach(kids::add);
        p.destroy(); // SIGTERM on Linux
        try {
            if (!p.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
                killTree(p.toHandle(), true);
                p.waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            killTree(p.toHandle(), true);
            Thread.currentThread().interrupt();
        }
        for (ProcessHandle k : kids) { // orphans left by the process
            k.destroyForcibly();
        }
        return p.isAlive() ? -1 : p.exitValue();
    }

    /** Reads a stream to the end on a daemon thread. */
    private static final class Drain {
        private final ByteArrayOutputStream buf = new ByteArrayOutputStream();
        private final Thread thread;

        Drain(InputStream in, String name) {
            thread = new Thread(() -> {
                byte[] b = new byte[8192];
                try (in) {
                    int n;
                    while ((n = in.read(b)) > 0) {
                        synchronized (buf) {
                            buf.write(b, 0, n);
                        }
                    }
                } catch (IOException ignored) {
                    // stream closed
                }
            }, name);
            thread.setDaemon(true);
            thread.start();
        }

        String text(Duration wait) {
            try {
                thread.join(wait.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            synchronized (buf) {
                return buf.toString(StandardCharsets.UTF_8);
            }
        }
    }
}
