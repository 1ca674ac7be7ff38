package io.vswitch.tap;

import io.vswitch.linux.IpCommand;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.sun.security.auth.module.UnixSystem;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Real-kernel test resources as a JUnit extension ({@code @RegisterExtension}): skips each test unless
 * we are root with the needed capabilities, /dev/net/tun and iproute2; hands out unique device and
 * namespace names; and removes them after each test, even a failed one.
 */
final class KernelSandbox implements BeforeEachCallback, AfterEachCallback {

    private final Deque<String[]> undo = new ArrayDeque<>();

    /** CAP_NET_ADMIN (bit 12) for TAP devices and links, CAP_SYS_ADMIN (bit 21) for network namespaces. */
    private static final long NEEDED_CAPABILITIES = (1L << 12) | (1L << 21);

    /** Set (as an environment variable or system property, to 1 or true) in CI: a missing requirement fails. */
    static final String REQUIRED = "VSWITCH_IT_REQUIRED";

    @Override
    public void beforeEach(ExtensionContext context) {
        boolean required = required();
        require(new UnixSystem().getUid() == 0 && hasCapabilities(),
                "needs root with CAP_NET_ADMIN and CAP_SYS_ADMIN for TAP devices and namespaces", required);
        require(Files.exists(Path.of("/dev/net/tun")), "/dev/net/tun is missing", required);
        require(Files.isExecutable(Path.of("/usr/sbin/ip")) || Files.isExecutable(Path.of("/sbin/ip"))
                || Files.isExecutable(Path.of("/usr/bin/ip")), "iproute2's ip is not installed", required);
    }

    /** Skips the test when {@code met} is false, or fails it when the requirements are {@code required}. */
    static void require(boolean met, String what, boolean required) {
        if (met) {
            return;
        }
        if (required) {
            fail(what + "; " + REQUIRED + " is set, so this is a failure, not a skip");
        }
        assumeTrue(false, "skipped: " + what + " (set " + REQUIRED + "=1 to make this a failure)");
    }

    static boolean required() {
        return truthy(System.getProperty(REQUIRED)) || truthy(System.getenv(REQUIRED));
    }

    private static boolean truthy(String value) {
        return "1".equals(value) || "true".equalsIgnoreCase(value);
    }

    /** A fresh device name ("vst" + 8 hex digits) that is deleted at close if it still exists. */
    String deviceName() {
        String name = uniqueName("vst");
        undo.push(new String[] {"link", "del", "dev", name});
        return name;
    }

    /** Creates a fresh network namespace that is deleted at close (which also deletes devices in it). */
    String netns() throws IOException {
        String name = uniqueName("vstns");
        IpCommand.run(null, "netns", "add", name);
        undo.push(new String[] {"netns", "del", name});
        return name;
    }

    static String ip(String... args) throws IOException {
        return IpCommand.run(null, args);
    }

    static String ipIn(String netns, String... args) throws IOException {
        return IpCommand.run(netns, args);
    }

    /** Undoes everything, newest first, ignoring what is already gone. */
    @Override
    public void afterEach(ExtensionContext context) {
        while (!undo.isEmpty()) {
            String[] args = undo.pop();
            try {
                IpCommand.run(null, args);
            } catch (IOException alreadyGone) {
                // e.g. the test deleted the device itself, or closing the TapDevice did
            }
        }
    }

    /** Root in an unprivileged container lacks them, so check the effective set rather than the uid alone. */
    private static boolean hasCapabilities() {
        try {
            return Files.readAllLines(Path.of("/proc/self/status")).stream()
                    .filter(line -> line.startsWith("CapEff:"))
                    .map(line -> Long.parseUnsignedLong(line.substring(7).trim(), 16))
                    .anyMatch(caps -> (caps & NEEDED_CAPABILITIES) == NEEDED_CAPABILITIES);
        } catch (IOException e) {
            return false;
        }
    }

    private static String uniqueName(String prefix) {
        return prefix + Integer.toHexString(ThreadLocalRandom.current().nextInt() | 0x10000000);
    }
}
