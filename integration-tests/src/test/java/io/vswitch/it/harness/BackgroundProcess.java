package io.vswitch.it.harness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A long-running command (e.g. {@code iperf3 -s}) started by {@link Namespaces#startBackground};
 * its stdout and stderr go to a log file. {@link Namespaces#close()} stops it if the test did not.
 */
public final class BackgroundProcess implements AutoCloseable {

    private final List<String> command;
    private final Process process;
    private final Path log;

    BackgroundProcess(List<String> command, Process process, Path log) {
        this.command = List.copyOf(command);
        this.process = process;
        this.log = log;
    }

    public long pid() {
        return process.pid();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    public List<String> command() {
        return command;
    }

    public Path logFile() {
        return log;
    }

    /** What it printed so far (stdout and stderr interleaved). */
    public String output() {
        try {
            return Files.exists(log) ? Files.readString(log, StandardCharsets.UTF_8) : "";
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Waits for it to exit by itself; returns the exit code, or -1 if it is still running after timeout. */
    public int waitFor(Duration timeout) {
        try {
            return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS) ? process.exitValue() : -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    /** SIGTERM, wait up to 5 s, then SIGKILL (it and its descendants). Returns the exit code. */
    public int stop() {
        return Exec.stop(process, Duration.ofSeconds(5));
    }

    @Override
    public void close() {
        stop();
    }

    @Override
    public String toString() {
        return "BackgroundProcess[pid " + process.pid() + ": " + String.join(" ", command) + "]";
    }
}
