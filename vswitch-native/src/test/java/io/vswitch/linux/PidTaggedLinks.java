package io.vswitch.linux;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Names for the network interfaces a test or benchmark JVM creates in the host's namespace, carrying
 * that JVM's PID, so that a later JVM can delete those a killed one left behind (its {@code @AfterEach}
 * or {@code @TearDown} never ran, and a random name would stay in the namespace for good). A name is a
 * prefix of the caller's, then {@link #nextId()}: the PID in hex, "x", a counter in hex, e.g.
 * {@code vssp1a2bx0}.
 *
 * <p>An interface is stale when the PID in its name runs no JVM: no process has it, or the PID was
 * reused by something else (the integration-test harness judges its own names the same way). The JVMs
 * sharing the namespace are taken to share the PID namespace, as tests and benchmarks on one machine do.
 */
public final class PidTaggedLinks {
    private static final String OWN_PID = Long.toHexString(ProcessHandle.current().pid());
    private static final AtomicInteger COUNTER = new AtomicInteger();

    private PidTaggedLinks() {
    }

    /** A suffix no other interface name of this JVM has: this JVM's PID in hex, "x", a counter in hex. */
    public static String nextId() {
        return OWN_PID + "x" + Integer.toHexString(COUNTER.getAndIncrement());
    }

    /**
     * Deletes every interface of the current namespace named one of {@code prefixes} + an id of a JVM
     * that no longer runs. Deleting one end of a veth deletes its peer, and another JVM may sweep at the
     * same time: an interface gone before its turn is fine.
     */
    public static void removeStale(String... prefixes) throws IOException {
        StringBuilder anyPrefix = new StringBuilder();
        for (String prefix : prefixes) {
            anyPrefix.append(anyPrefix.length() == 0 ? "" : "|").append(Pattern.quote(prefix));
        }
        Pattern ours = Pattern.compile("(?:" + anyPrefix + ")([0-9a-f]{1,8})x[0-9a-f]+");
        String[] links = new File("/sys/class/net").list();
        for (String link : links == null ? new String[0] : links) {
            Matcher m = ours.matcher(link);
            if (m.matches() && !runsAJvm(Long.parseLong(m.group(1), 16))) {
                try {
                    IpCommand.run(null, "link", "del", "dev", link);
                } catch (IOException e) {
                    if (Files.exists(Path.of("/sys/class/net", link))) {
                        throw e;
                    }
                }
            }
        }
    }

    private static boolean runsAJvm(long pid) {
        return ProcessHandle.of(pid)
                .filter(ProcessHandle::isAlive)
                .map(p -> p.info().command().map(c -> c.toLowerCase(Locale.ROOT).contains("java")).orElse(true))
                .orElse(false);
    }
}
