package io.vswitch.it.harness;

import java.time.Duration;
import java.util.List;

/**
 * Outcome of one external command run by the harness.
 *
 * @param command  the command line that ran
 * @param exitCode exit status, or -1 when it timed out and was killed
 * @param stdout   everything it wrote to standard output
 * @param stderr   everything it wrote to standard error
 * @param timedOut whether the harness killed it because its timeout ran out
 * @param elapsed  wall time it took
 */
public record ExecResult(List<String> command, int exitCode, String stdout, String stderr,
                         boolean timedOut, Duration elapsed) {

    public ExecResult {
        command = List.copyOf(command);
    }

    /** Exit status 0 and not timed out. */
    public boolean ok() {
        return exitCode == 0 && !timedOut;
    }

    /** Returns this if {@link #ok()}, otherwise throws with the command, status and output. */
    public ExecResult orThrow() {
        if (!ok()) {
            throw new IllegalStateException(describe());
        }
        return this;
    }

    /** Multi-line description for assertion messages. */
    public String describe() {
        return String.join(" ", command)
                + (timedOut ? " timed out after " + elapsed.toMillis() + " ms" : " exited " + exitCode)
                + "\n--- stdout:\n" + tail(stdout) + "\n--- stderr:\n" + tail(stderr);
    }

    private static String tail(String s) {
        return s.length() <= 4000 ? s : "..." + s.substring(s.length() - 4000);
    }

    @Override
    public String toString() {
        return "ExecResult[" + String.join(" ", command) + " -> " + (timedOut ? "timeout" : exitCode) + "]";
    }
}
