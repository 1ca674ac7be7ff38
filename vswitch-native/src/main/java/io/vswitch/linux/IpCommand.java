package io.vswitch.linux;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs iproute2's {@code ip} for the one thing the ioctls cannot do from here: act on a device in
 * another network namespace ({@code ip -n NS}, which enters it for the duration of the process). Cold
 * path only; the child process is waited for (or killed) before returning.
 */
public final class IpCommand {

    private static final long TIMEOUT_SECONDS = 10;

    private IpCommand() {
    }

    /** Runs {@code ip [-n netns] args...}; returns its output, or throws with it if the exit status is not 0. */
    public static String run(String netns, String... args) throws IOException {
        List<String> command = new ArrayList<>(List.of("ip"));
        if (netns != null) {
            command.addAll(List.of("-n", netns));
        }
        command.addAll(List.of(args));
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        try {
            // Output is a few lines at most: reading it to EOF before waiting cannot deadlock.
            String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            if (!process.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                throw new IOException(String.join(" ", command) + ": timed out");
            }
            if (process.exitValue() != 0) {
                throw new IOException(String.join(" ", command) + ": exit " + process.exitValue() + ": " + output);
            }
            return output;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException(String.join(" ", command) + ": interrupted");
        } finally {
            process.destroyForcibly();
        }
    }

    /** The ifindex of {@code name} in {@code netns}, from the "N: name: ..." line of {@code ip -o link show}. */
    public static int ifindex(String netns, String name) throws IOException {
        String line = run(netns, "-o", "link", "show", "dev", name);
        try {
            return Integer.parseInt(line.substring(0, line.indexOf(':')));
        } catch (RuntimeException e) {
            throw new IOException("unexpected output of ip link show: " + line, e);
        }
    }
}
