package io.vswitch.it.vm;

import io.vswitch.it.harness.Exec;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A real Linux guest under QEMU (TCG: {@code -accel kvm} is not usable on these machines), with one
 * virtio-net NIC on the {@code -netdev} a VM port prints in {@code show}, and its serial console on
 * QEMU's stdin/stdout. The guest's /init (integration-tests/guest/init) gives eth0 its address from
 * the kernel command line and then runs each line written to the console as a shell command,
 * answering {@code VSW-RC <status>}; {@link #run} uses that. Everything the console prints goes to
 * {@code target/it-logs/NAME-guest.log}. {@link #close()} (or {@link #kill()}) SIGKILLs QEMU.
 */
public final class Guest implements AutoCloseable {
    /**
     * The guest kernel's command line. {@code no_timer_check}: under TCG on a loaded host the kernel's
     * check that the IO-APIC timer ticks can miss its window and panic ("IO-APIC + timer doesn't
     * work!"), as seen in CI with several guests booting at once; the check proves nothing about an
     * emulated timer, so it is skipped, as virtual-machine images do.
     */
    static final String KERNEL_ARGS = "console=ttyS0 quiet loglevel=1 panic=-1 no_timer_check";

    private static final Pattern RC = Pattern.compile("^VSW-RC (\\d+)$");
    private static final String READY = "VSW-GUEST-READY";
    private static final String EOF = "\u0000eof";

    public final String name;
    public final String ip;
    public final String mac;
    private final Process qemu;
    private final Writer console;
    private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    private final Thread reader;
    private final Thread hook;
    private final Path log;

    private Guest(String name, String ip, String mac, Process qemu, Path log) {
        this.name = name;
        this.ip = ip;
        this.mac = mac;
        this.qemu = qemu;
        this.log = log;
        this.console = new BufferedWriter(new OutputStreamWriter(qemu.getOutputStream(), StandardCharsets.UTF_8));
        this.reader = new Thread(this::pump, "vsit-guest-" + name);
        reader.setDaemon(true);
        reader.start();
        this.hook = new Thread(this::kill, "vsit-guest-kill-" + name);
        Runtime.getRuntime().addShutdownHook(hook);
    }

    /**
     * Starts QEMU (does not wait for the boot: see {@link #awaitReady}) with a NIC on
     * {@code netdev} (the value of a VM port's {@code "qemu"} field in {@code show --json}).
     *
     * @param cidr the guest's address, e.g. 198.18.0.10/24
     */
    static Guest boot(GuestImage image, String name, String cidr, String mac, String netdev) throws IOException {
        Matcher id = Pattern.compile("(?:^|,)id=([^,]+)").matcher(netdev);
        if (!id.find()) {
            throw new IllegalArgumentException("no id= in " + netdev);
        }
        return boot(image, name, cidr, 1, List.of("-netdev", netdev,
                "-device", "virtio-net-pci,netdev=" + id.group(1) + ",mac=" + mac + ",romfile="));
    }

    /**
     * Starts QEMU (256 MiB, {@code cpus} CPUs, TCG) with {@code nicArgs} giving its NIC and anything the
     * NIC needs (for vhost-user: the shared memory backend, the chardev, the netdev and the device,
     * as a vhost-user port's {@code show} prints them).
     */
    public static Guest boot(GuestImage image, String name, String cidr, int cpus, List<String> nicArgs) throws IOException {
        String mac = null;
        for (String arg : nicArgs) {
            Matcher m = Pattern.compile("(?:^|,)mac=([0-9a-fA-F:]{17})").matcher(arg);
            if (m.find()) {
                mac = m.group(1);
            }
        }
        List<String> cmd = new ArrayList<>(List.of(
                "qemu-system-x86_64", "-accel", "tcg", "-M", "pc", "-m", "256", "-smp", Integer.toString(cpus),
                "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot",
                "-name", name,
                "-kernel", image.kernel.toString(), "-initrd", image.initramfs.toString(),
                "-append", KERNEL_ARGS + " vsw.ip=" + cidr));
        cmd.addAll(nicArgs);
        Path logDir = Path.of(System.getProperty("user.dir"), "target", "it-logs");
        Files.createDirectories(logDir);
        Path log = logDir.resolve(name + "-guest.log");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        Process p = pb.start();
        Files.writeString(log, "# " + String.join(" ", cmd) + "\n", StandardCharsets.UTF_8);
        return new Guest(name, cidr.substring(0, cidr.indexOf('/')), mac, p, log);
    }

    private void pump() {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(qemu.getInputStream(), StandardCharsets.UTF_8));
             Writer w = Files.newBufferedWriter(log, StandardCharsets.UTF_8, java.nio.file.StandardOpenOption.APPEND)) {
            String line;
            while ((line = r.readLine()) != null) {
                line = line.replace("\r", "");
                w.write(line);
                w.write('\n');
                w.flush();
                lines.add(line);
            }
        } catch (IOException e) {
            // QEMU went away
        } finally {
            lines.add(EOF);
        }
    }

    /** Waits for the guest's /init to report its NIC configured. */
    public void awaitReady(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            String line = next(deadline, "the guest to boot");
            if (line.startsWith(READY)) {
                return;
            }
            if (line.startsWith("VSW-GUEST-NO-NIC")) {
                throw new AssertionError(name + ": the guest found no NIC; see " + log);
            }
        }
    }

    /** Runs {@code command} in the guest's shell; returns its output; fails unless it exits 0. */
    public String run(String command, Duration timeout) {
        Result r = runRaw(command, timeout);
        if (r.status != 0) {
            throw new AssertionError(name + ": '" + command + "' exited " + r.status + ":\n" + r.output);
        }
        return r.output;
    }

    public record Result(int status, String output) {
    }

    /** Runs {@code command} in the guest's shell; returns its status and output. */
    public synchronized Result runRaw(String command, Duration timeout) {
        if (command.contains("\n")) {
            throw new IllegalArgumentException("one line per command");
        }
        try {
            console.write(command + "\n");
            console.flush();
        } catch (IOException e) {
            throw new AssertionError(name + ": cannot write to the console: " + e.getMessage() + "; see " + log);
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        StringBuilder out = new StringBuilder();
        while (true) {
            String line = next(deadline, "'" + command + "' to finish");
            Matcher m = RC.matcher(line);
            if (m.matches()) {
                return new Result(Integer.parseInt(m.group(1)), out.toString());
            }
            out.append(line).append('\n');
        }
    }

    private String next(long deadline, String what) {
        try {
            long left = deadline - System.nanoTime();
            String line = left <= 0 ? null : lines.poll(left, TimeUnit.NANOSECONDS);
            if (line == null) {
                throw new AssertionError(name + ": timed out waiting for " + what + "; see " + log);
            }
            if (line == EOF) {
                lines.add(EOF);
                throw new AssertionError(name + ": QEMU exited (" + exitDescription() + ") while waiting for " + what
                        + "; see " + log);
            }
            return line;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    private String exitDescription() {
        try {
            qemu.waitFor(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return qemu.isAlive() ? "still running" : "status " + qemu.exitValue();
    }

    public long pid() {
        return qemu.pid();
    }

    public boolean isAlive() {
        return qemu.isAlive();
    }

    /** SIGKILLs QEMU, as a crashing or killed VM; waits for it to be gone. */
    public void kill() {
        Exec.killTree(qemu.toHandle(), true);
        try {
            qemu.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    public Path log() {
        return log;
    }

    @Override
    public void close() {
        kill();
        try {
            reader.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException ignored) {
            // shutting down
        }
    }
}
