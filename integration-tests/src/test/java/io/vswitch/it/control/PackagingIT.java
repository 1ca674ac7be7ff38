package io.vswitch.it.control;

import io.vswitch.it.harness.SwitchTestBase;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.vswitch.it.harness.Exec;
import io.vswitch.it.harness.ExecResult;
import io.vswitch.it.harness.SwitchProcess;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The files in packaging/: the default configuration starts a daemon, the systemd unit's own
 * ExecStart line (run through the packaged launcher) starts one and stops cleanly on SIGTERM with
 * the exit status the unit accepts, and systemd finds nothing to complain about in the unit.
 */
class PackagingIT extends SwitchTestBase {
    private static final Path PACKAGING = SwitchProcess.repoRoot().resolve("packaging");
    private static final Path JAR = SwitchProcess.repoRoot().resolve("vswitch-cli/target/vswitch.jar");

    @Test
    void theDefaultConfigurationStartsTheDaemonWithConfig() throws Exception {
        Path packaged = PACKAGING.resolve("vswitch.json");
        byte[] original = Files.readAllBytes(packaged);
        JsonNode expected = JSON.readTree(original);
        Path config = tempDir("config").resolve("vswitch.json");
        Files.write(config, original); // the daemon rewrites its --config file: never the one in the repo

        start(SwitchProcess.builder().args("--config", config.toString()));
        assertTrue(sw.output().contains("configuration " + config), sw::outputTail);
        JsonNode show = json("show");
        assertEquals(expected.path("ports").size(), show.path("ports").size());
        JsonNode fdb = show.path("fdb");
        assertEquals(expected.path("ageingSeconds").asInt(), fdb.path("ageingSeconds").asInt(), fdb::toString);
        assertEquals(expected.path("fdbMaxEntries").asInt(), fdb.path("maxEntries").asInt(), fdb::toString);
        assertEquals(expected.path("fdbMaxPerPort").asInt(), fdb.path("maxPerPort").asInt(), fdb::toString);
        assertEquals(expected.path("staticFdb").size(), fdb.path("static").asInt());

        // changes go to that file
        cli("set-ageing", "123");
        assertEquals(123, JSON.readTree(config.toFile()).path("ageingSeconds").asInt());
        assertTrue(java.util.Arrays.equals(original, Files.readAllBytes(packaged)), "packaging/vswitch.json was changed");
    }

    @Test
    void theUnitsExecStartRunsTheDaemonAndSigtermStopsItWithAnAcceptedStatus() throws Exception {
        String unit = Files.readString(PACKAGING.resolve("vswitch.service"));
        String execStart = directive(unit, "ExecStart");
        assertTrue(execStart.startsWith("/opt/vswitch/vswitch daemon "), execStart);
        assertTrue(execStart.contains("--state-dir /var/lib/vswitch"), execStart);
        assertEquals("vswitch", directive(unit, "RuntimeDirectory"));
        assertEquals("vswitch", directive(unit, "StateDirectory"));
        assertEquals("on-failure", directive(unit, "Restart"));
        assertTrue(directive(unit, "CapabilityBoundingSet").contains("CAP_NET_ADMIN"));

        // the unit's command line, with the directories systemd would make replaced by temp ones and
        // the packaged configuration installed in the state dir as packaging/README.md says
        Path root = tempDir("unit");
        Path run = Files.createDirectories(root.resolve("run/vswitch"));
        Path state = Files.createDirectories(root.resolve("var/lib/vswitch"));
        Files.copy(PACKAGING.resolve("vswitch.json"), state.resolve("vswitch.json"));
        List<String> cmd = new ArrayList<>();
        for (String word : execStart.split("\\s+")) {
            if (word.equals("$VSWITCH_OPTS")) {
                continue;
            }
            cmd.add(word.replace("/opt/vswitch/vswitch", PACKAGING.resolve("vswitch").toString())
                    .replace("/run/vswitch", run.toString())
                    .replace("/var/lib/vswitch", state.toString()));
        }
        Path log = root.resolve("daemon.log");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().put("VSWITCH_JAR", JAR.toString());
        Process daemon = pb.start();
        onCleanup(() -> {
            if (daemon.isAlive()) {
                Exec.killTree(daemon.toHandle(), true);
            }
        });
        await(Duration.ofSeconds(60), () -> read(log).contains("vswitchd ready") || !daemon.isAlive(), () -> read(log));
        assertTrue(daemon.isAlive(), () -> "exited: " + read(log));

        Path socket = run.resolve("vswitchd.sock");
        String port = ns.linkName("u");
        ExecResult add = vswitch("--socket", socket.toString(), "add-port", port, "--type", "tap");
        assertTrue(add.ok(), add::describe);
        assertTrue(Exec.run("ip", "link", "show", "dev", port).ok());

        daemon.destroy(); // SIGTERM, as systemctl stop
        assertTrue(daemon.waitFor(30, TimeUnit.SECONDS), () -> "no exit after SIGTERM: " + read(log));
        int status = daemon.exitValue();
        String accepted = directive(unit, "SuccessExitStatus");
        assertTrue(status == 0 || List.of(accepted.split("\\s+")).contains(Integer.toString(status)),
                "exit status " + status + " after SIGTERM is not in SuccessExitStatus=" + accepted);
        assertTrue(read(log).contains("vswitchd stopped"), () -> read(log));
        assertTrue(!Exec.run("ip", "link", "show", "dev", port).ok(), "the daemon's TAP is removed on stop");
        JsonNode saved = JSON.readTree(state.resolve("vswitch.json").toFile());
        assertEquals(port, saved.path("ports").get(0).path("name").asText(), "the port was saved in the state dir");
    }

    @Test
    void systemdFindsNothingWrongWithTheUnit() throws Exception {
        Assumptions.assumeTrue(Exec.which("systemd-analyze").isPresent(), "systemd-analyze is not installed");
        // verify insists that ExecStart exists: point it at the packaged launcher
        String unit = Files.readString(PACKAGING.resolve("vswitch.service"))
                .replace("/opt/vswitch/vswitch", PACKAGING.resolve("vswitch").toString());
        Path dir = tempDir("systemd");
        Path copy = dir.resolve("vswitch.service");
        Files.writeString(copy, unit, StandardCharsets.UTF_8);
        // and it runs man for each Documentation=man:... page: give it the pages the build made
        Path man1 = Files.createDirectories(dir.resolve("man/man1"));
        try (var pages = Files.list(SwitchProcess.repoRoot().resolve("vswitch-cli/target/man"))) {
            for (Path page : pages.toList()) {
                Files.copy(page, man1.resolve(page.getFileName()));
            }
        }
        ExecResult r = Exec.run("env", "MANPATH=" + dir.resolve("man"), "systemd-analyze", "verify", copy.toString());
        assertTrue(r.ok(), r::describe);
        assertEquals("", r.stderr().trim(), r::describe);
        assertEquals("", r.stdout().trim(), r::describe);
    }

    @Test
    void theLauncherRunsTheJarItIsGivenAndSaysWhenItIsMissing() {
        ExecResult version = Exec.run("env", "VSWITCH_JAR=" + JAR, PACKAGING.resolve("vswitch").toString(), "--version");
        assertTrue(version.ok() && version.stdout().contains("vswitch 0.1.0"), version::describe);
        ExecResult missing = Exec.run("env", "VSWITCH_JAR=/nonexistent/vswitch.jar", PACKAGING.resolve("vswitch").toString(), "--version");
        assertEquals(1, missing.exitCode(), missing::describe);
        assertTrue(missing.stderr().contains("/nonexistent/vswitch.jar is missing"), missing::describe);
    }

    /** The value of the one line {@code key=value} in the unit. */
    private static String directive(String unit, String key) {
        List<String> values = unit.lines().filter(l -> l.startsWith(key + "=")).map(l -> l.substring(key.length() + 1).trim()).toList();
        assertEquals(1, values.size(), () -> key + " lines in the unit: " + values);
        return values.get(0);
    }
}
