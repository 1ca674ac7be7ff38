package io.vswitch.it.harness;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Names of everything the harness creates. All carry {@code vsit<pid hex>x}, where pid is
 * this JVM's: it is unique per test run, and a later run can tell leftovers of a dead run
 * (whose pid no longer belongs to a JVM) from those of a live one.
 */
final class HarnessIds {

    /** Prefix of every namespace, link and temp dir of every harness run. */
    static final String PREFIX = "vsit";

    /** This run's prefix, e.g. {@code vsit1a2bx}: at most 11 characters. */
    static final String RUN_PREFIX = PREFIX + Long.toHexString(ProcessHandle.current().pid()) + "x";

    private static final Pattern STALE = Pattern.compile("^" + PREFIX + "([0-9a-f]+)x");
    private static final AtomicInteger COUNTER = new AtomicInteger();

    /** Linux IFNAMSIZ - 1. */
    static final int MAX_IFNAME = 15;

    private HarnessIds() {
    }

    /** A fresh unique name {@code RUN_PREFIX + counter (base 36)}. */
    static String next() {
        return RUN_PREFIX + Integer.toString(COUNTER.getAndIncrement(), 36);
    }

    /** A fresh unique name plus "-role", checked to fit an interface name when ifname is true. */
    static String next(String role, boolean ifname) {
        String base = next();
        String name = role == null || role.isEmpty() ? base : base + "-" + role;
        if (!name.matches("[A-Za-z0-9_.-]+")) {
            throw new IllegalArgumentException("bad characters in name " + name);
        }
        if (ifname && name.length() > MAX_IFNAME) {
            throw new IllegalArgumentException("interface name " + name + " is longer than " + MAX_IFNAME
                    + " characters: use a shorter role than '" + role + "'");
        }
        return name;
    }

    /** True if name was made by a harness run whose JVM is gone. */
    static boolean isStale(String name) {
        Matcher m = STALE.matcher(name);
        if (!m.find()) {
            return false;
        }
        long pid;
        try {
            pid = Long.parseLong(m.group(1), 16);
        } catch (NumberFormatException e) {
            return false;
        }
        if (pid == ProcessHandle.current().pid()) {
            return false;
        }
        return ProcessHandle.of(pid)
                .filter(ProcessHandle::isAlive)
                .map(h -> h.info().command().map(c -> !c.toLowerCase(Locale.ROOT).contains("java")).orElse(true))
                .orElse(true);
    }

    /** target/it-logs under the working directory (the Maven module dir), created. */
    static Path logDir() {
        Path d = Path.of(System.getProperty("user.dir"), "target", "it-logs");
        try {
            Files.createDirectories(d);
        } catch (IOException e) {
            d = Path.of(System.getProperty("java.io.tmpdir"));
        }
        return d;
    }
}
