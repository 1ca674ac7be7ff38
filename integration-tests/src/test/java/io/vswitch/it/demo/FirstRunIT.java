package io.vswitch.it.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.it.harness.Exec;
import io.vswitch.it.harness.Namespaces;
import io.vswitch.it.harness.Requirements;
import io.vswitch.it.harness.SwitchProcess;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * README command one, {@code ./vswitch demo}, as a newcomer runs it (issue 8): it checks for its
 * tools before starting anything, its first-run build prints no terminal escapes, and its counters
 * show no drop it does not explain.
 */
class FirstRunIT {
    private static final Path REPO = SwitchProcess.repoRoot();
    private final List<Path> tempDirs = new ArrayList<>();

    record Run(int exitCode, String stdout, String stderr) {
        String all() {
            return stdout + stderr;
        }
    }

    @AfterEach
    void removeTempDirs() throws IOException {
        for (Path dir : tempDirs) {
            deleteTree(dir);
        }
    }

    @Test
    void withoutPingTheDemoStopsBeforeStartingAnythingAndSaysWhatToInstall() throws Exception {
        Requirements.check();
        Path bin = tempDir("bin");
        for (String tool : List.of("bash", "dirname", "java", "ip", "iperf3")) {
            Path real = Exec.which(tool).orElseThrow(() -> new AssertionError(tool + " is not installed"));
            Files.createSymbolicLink(bin.resolve(tool), real.toRealPath());
        }
        List<String> namespacesBefore = demoNamespaces();
        Run run = run(Map.of("PATH", bin.toString()), 120, REPO.resolve("vswitch").toString(), "demo", "--no-install");
        assertEquals(1, run.exitCode(), run::all);
        assertTrue(run.stderr().contains("apt-get install -y --no-install-recommends iputils-ping"), run::all);
        assertFalse(run.all().contains("== switch up"), run::all);
        assertEquals(namespacesBefore, demoNamespaces(), "the demo created namespaces before finding its tools");
        assertNoEscapes(run);
    }

    @Test
    void theDemoPingsThroughTheSwitchAndExplainsEveryDropItShows() throws Exception {
        Requirements.check();
        Run run = run(Map.of(), 180, REPO.resolve("vswitch").toString(), "demo", "--seconds", "1", "--no-install");
        assertEquals(0, run.exitCode(), run::all);
        assertTrue(run.stdout().contains(" 0% packet loss"), run::all);
        assertTrue(run.stdout().contains("== cleaned up"), run::all);
        assertFalse(run.stdout().contains("no-output"), () -> "a fresh demo floods into nowhere: " + run.all());
        String counters = run.stdout().substring(run.stdout().indexOf("== counters"));
        for (String line : counters.split("\n")) {
            int drops = line.indexOf('{');
            if (drops < 0 || line.startsWith(" ")) {
                continue;
            }
            for (String label : line.substring(drops + 1, line.indexOf('}')).split(",")) {
                if (!label.isEmpty()) {
                    String reason = label.substring(1, label.indexOf('"', 1));
                    assertTrue(counters.contains("\n  " + reason + ": "), () -> reason + " is not explained:\n" + counters);
                }
            }
        }
        assertNoEscapes(run);
        assertEquals(List.of(), demoNamespaces(), "the demo left namespaces behind");
    }

    /** The launcher's first run in a fresh copy of the sources: builds quietly, then runs. */
    @Test
    void theFirstRunBuildPrintsNoTerminalEscapes() throws Exception {
        Path copy = tempDir("src");
        copySources(REPO, copy);
        Run run = run(Map.of(), 900, copy.resolve("vswitch").toString(), "--version");
        assertEquals(0, run.exitCode(), run::all);
        assertTrue(run.stderr().contains("first run: building"), run::all);
        assertTrue(Files.isRegularFile(copy.resolve("vswitch-cli/target/vswitch.jar")));
        assertNoEscapes(run);
    }

    private static void assertNoEscapes(Run run) {
        assertFalse(run.all().indexOf('\u001b') >= 0, () -> "terminal escapes in the output:\n" + run.all());
    }

    /** Namespaces the demo makes ({@code vsdemo<pid>a/b}). */
    private static List<String> demoNamespaces() {
        List<String> out = new ArrayList<>();
        for (String line : Exec.run("ip", "netns", "list").orThrow().stdout().split("\n")) {
            if (line.startsWith("vsdemo")) {
                out.add(line.split(" ")[0]);
            }
        }
        return out;
    }

    private Run run(Map<String, String> env, int timeoutSeconds, String... command) throws Exception {
        Path out = tempDir("out");
        ProcessBuilder pb = new ProcessBuilder(command).directory(REPO.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                .redirectOutput(out.resolve("stdout").toFile())
                .redirectError(out.resolve("stderr").toFile());
        pb.environment().putAll(env);
        Process p = pb.start();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            Exec.killTree(p.toHandle(), true);
            throw new AssertionError(String.join(" ", command) + " did not finish within " + timeoutSeconds + " s");
        }
        return new Run(p.exitValue(), Files.readString(out.resolve("stdout"), StandardCharsets.UTF_8),
                Files.readString(out.resolve("stderr"), StandardCharsets.UTF_8));
    }

    private Path tempDir(String role) throws IOException {
        Path dir = Files.createTempDirectory(Path.of("/tmp"), Namespaces.runPrefix() + "first-run-" + role + "-");
        tempDirs.add(dir);
        return dir;
    }

    /** The sources as a fresh checkout has them: everything but build output and VCS data. */
    private static void copySources(Path from, Path to) throws IOException {
        try (Stream<Path> walk = Files.walk(from)) {
            walk.filter(p -> {
                Path rel = from.relativize(p);
                for (Path part : rel) {
                    String name = part.toString();
                    if (name.equals("target") || name.equals(".git")) {
                        return false;
                    }
                }
                return true;
            }).forEach(p -> {
                Path dest = to.resolve(from.relativize(p).toString());
                try {
                    if (Files.isDirectory(p)) {
                        Files.createDirectories(dest);
                    } else {
                        Files.copy(p, dest, StandardCopyOption.COPY_ATTRIBUTES, StandardCopyOption.REPLACE_EXISTING);
                    }
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        }
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(root)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
