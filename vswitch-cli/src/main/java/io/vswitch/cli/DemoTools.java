package io.vswitch.cli;

import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * The programs {@code vswitch demo} runs, found before anything is started: iproute2's {@code ip},
 * {@code ping} and {@code iperf3}. Missing ones are installed with apt-get when allowed (root, a
 * Debian-like system), saying what is installed; otherwise the demo stops with the exact command
 * to run. Cold path, run once.
 */
final class DemoTools {
    /** Program → Debian package that provides it. */
    static final Map<String, String> NEEDED = Map.of("ip", "iproute2", "ping", "iputils-ping", "iperf3", "iperf3");
    private static final List<String> ORDER = List.of("ip", "ping", "iperf3");
    /** Where root's tools live even when PATH (e.g. a user's, kept by sudo -E) leaves them out. */
    private static final List<String> SYSTEM_DIRS = List.of("/usr/sbin", "/sbin");

    private final Map<String, Path> found = new LinkedHashMap<>();

    private DemoTools() {
    }

    /**
     * Finds every needed program, installing missing ones if {@code mayInstall}; empty (after
     * printing why and what to run to {@code err}) when the demo cannot go on.
     */
    static Optional<DemoTools> prepare(boolean root, boolean mayInstall, PrintStream out, PrintStream err)
            throws IOException, InterruptedException {
        DemoTools tools = new DemoTools();
        List<String> missing = tools.locate();
        if (missing.isEmpty()) {
            return Optional.of(tools);
        }
        String packages = String.join(" ", missing.stream().map(NEEDED::get).toList());
        String command = "apt-get install -y --no-install-recommends " + packages;
        boolean apt = aptGetPath().isPresent();
        if (!root) {
            err.println("vswitch demo: needs root, and " + String.join(", ", missing) + " (not found); run:\n  sudo "
                    + (apt ? command + " && sudo " : "") + "./vswitch demo");
            return Optional.empty();
        }
        if (!mayInstall || !apt) {
            err.println("vswitch demo: " + String.join(", ", missing) + " not found; nothing was started. Install "
                    + (apt ? "them with:\n  " + command : "the packages " + packages + " (or your system's equivalents)")
                    + "\nthen run ./vswitch demo again.");
            return Optional.empty();
        }
        out.println("== installing what the demo needs: " + packages + " (apt-get; use --no-install to only print the"
                + " command)");
        if (!aptGet(List.of("install", "-y", "--no-install-recommends"), missing)) {
            out.println("== apt-get install failed; updating the package lists and trying once more");
            aptGet(List.of("update"), List.of());
            aptGet(List.of("install", "-y", "--no-install-recommends"), missing);
        }
        List<String> still = tools.locate();
        if (!still.isEmpty()) {
            err.println("vswitch demo: " + String.join(", ", still) + " still not found after apt-get; nothing was"
                    + " started. Install them by hand:\n  " + command);
            return Optional.empty();
        }
        return Optional.of(tools);
    }

    /** Absolute path of a needed program (found by {@link #prepare}). */
    String path(String program) {
        return found.get(program).toString();
    }

    /** Looks every needed program up; returns the missing ones. */
    private List<String> locate() {
        List<String> missing = new ArrayList<>();
        for (String program : ORDER) {
            Optional<Path> p = find(program);
            if (p.isPresent()) {
                found.put(program, p.get());
            } else {
                missing.add(program);
            }
        }
        return missing;
    }

    /** {@code program} in PATH or the system directories, if it is there and executable. */
    static Optional<Path> find(String program) {
        List<String> dirs = new ArrayList<>(List.of(System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)));
        dirs.addAll(SYSTEM_DIRS);
        for (String dir : dirs) {
            if (!dir.isEmpty()) {
                Path p = Path.of(dir, program);
                if (Files.isRegularFile(p) && Files.isExecutable(p)) {
                    return Optional.of(p);
                }
            }
        }
        return Optional.empty();
    }

    /** apt-get in PATH, or where Debian keeps it (a stripped PATH still gets the right advice). */
    private static Optional<Path> aptGetPath() {
        Path debian = Path.of("/usr/bin/apt-get");
        return find("apt-get").or(() -> Files.isExecutable(debian) ? Optional.of(debian) : Optional.empty());
    }

    /** Runs apt-get non-interactively (iperf3 would otherwise ask whether to start a daemon), output shown. */
    private static boolean aptGet(List<String> args, List<String> programs) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(aptGetPath().orElseThrow().toString());
        command.addAll(args);
        programs.forEach(p -> command.add(NEEDED.get(p)));
        ProcessBuilder pb = new ProcessBuilder(command).inheritIO();
        pb.environment().put("DEBIAN_FRONTEND", "noninteractive");
        Process p = pb.start();
        if (!p.waitFor(15, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            return false;
        }
        return p.exitValue() == 0;
    }
}
