package io.vswitch.it.harness;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

/**
 * Whether this machine can run the integration tests: Linux, root, /dev/net/tun, and
 * {@code ip}, {@code iperf3}, {@code ping} (plus any extra commands a test names).
 *
 * <p>When something is missing the test is <em>skipped</em> with a message telling the developer
 * what to do, unless {@code VSWITCH_IT_REQUIRED=1} is set (as a system property or environment
 * variable; CI sets it), in which case the test <em>fails</em> with that message.
 *
 * <pre>{@code
 * @BeforeAll static void requirements() { Requirements.check(); }
 * @Test void ovsPeer() { Requirements.check("ovs-vsctl"); ... }
 * }</pre>
 */
public final class Requirements {

    /** System property / environment variable that turns missing requirements into failures. */
    public static final String REQUIRED = "VSWITCH_IT_REQUIRED";

    /** Commands every integration test needs. */
    public static final List<String> BASE_COMMANDS = List.of("ip", "iperf3", "ping");

    private Requirements() {
    }

    /** Skips (or, with VSWITCH_IT_REQUIRED=1, fails) the calling test unless the base requirements hold. */
    public static void check() {
        check(new String[0]);
    }

    /** Like {@link #check()}, also requiring each of extraCommands on PATH. */
    public static void check(String... extraCommands) {
        List<String> missing = missing(extraCommands);
        if (missing.isEmpty()) {
            return;
        }
        String what = "integration-test requirements missing: " + String.join("; ", missing) + ".";
        if (required()) {
            Assertions.fail(what + " " + REQUIRED + " is set, so this is a failure, not a skip."
                    + " Run .ci/install-deps as root and run the tests as root.");
        }
        Assumptions.abort(what + " Skipping. These tests create network namespaces and TAP devices:"
                + " run them as root (e.g. `sudo -E mvn -pl integration-tests -am verify`) after"
                + " `sudo .ci/install-deps`; set " + REQUIRED + "=1 to make this a failure instead.");
    }

    /** Human-readable list of what is missing (empty if all is there). */
    public static List<String> missing(String... extraCommands) {
        List<String> missing = new ArrayList<>();
        if (!System.getProperty("os.name", "").toLowerCase(Locale.ROOT).contains("linux")) {
            missing.add("not Linux (os.name=" + System.getProperty("os.name") + ")");
            return missing;
        }
        if (!isRoot()) {
            missing.add("not root (uid " + uid() + ")");
        }
        if (!Files.exists(Path.of("/dev/net/tun"))) {
            missing.add("/dev/net/tun not present (modprobe tun)");
        }
        List<String> cmds = new ArrayList<>(BASE_COMMANDS);
        cmds.addAll(List.of(extraCommands));
        for (String c : cmds) {
            if (Exec.which(c).isEmpty()) {
                missing.add("'" + c + "' not on PATH");
            }
        }
        return missing;
    }

    /** True when all requirements (base plus extraCommands) hold. */
    public static boolean satisfied(String... extraCommands) {
        return missing(extraCommands).isEmpty();
    }

    /** True if {@value #REQUIRED} is "1" or "true" as a system property or environment variable. */
    public static boolean required() {
        return truthy(System.getProperty(REQUIRED)) || truthy(System.getenv(REQUIRED));
    }

    /** Effective uid 0. */
    public static boolean isRoot() {
        return uid() == 0;
    }

    /** Effective uid from /proc/self/status (falls back to {@code id -u}); -1 if unknown. */
    public static long uid() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("Uid:")) {
                    String[] f = line.substring(4).trim().split("\\s+");
                    return Long.parseLong(f.length > 1 ? f[1] : f[0]); // real, effective, saved, fs
                }
            }
        } catch (IOException | RuntimeException ignored) {
            // fall through to id -u
        }
        try {
            ExecResult r = Exec.run(Duration.ofSeconds(5), "id", "-u");
            if (r.ok()) {
                return Long.parseLong(r.stdout().trim());
            }
        } catch (RuntimeException ignored) {
            // unknown
        }
        return -1;
    }

    private static boolean truthy(String v) {
        return v != null && (v.trim().equals("1") || v.trim().equalsIgnoreCase("true"));
    }
}
