package io.vswitch.linux;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Pattern;

/**
 * Opens sockets inside a named network namespace ({@code ip netns add NAME}) without moving the daemon:
 * a short-lived thread enters the namespace with {@code setns} (which affects only the calling thread),
 * runs the work, and ends. Sockets keep the namespace they were created in for their whole life, so the
 * daemon's datapath threads may use them from the root namespace.
 */
public final class Netns {
    private static final Path NETNS_DIR = Path.of("/run/netns");
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_.-]{1,64}");
    private static final LibC LIBC = LibC.INSTANCE;

    /** Work to run inside the namespace. */
    @FunctionalInterface
    public interface Work<T> {
        T run() throws IOException;
    }

    private Netns() {
    }

    /** Runs {@code work} in namespace {@code name}, or on the calling thread when {@code name} is null. */
    public static <T> T call(String name, Work<T> work) throws IOException {
        if (name == null) {
            return work.run();
        }
        if (!NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("netns '" + name + "' is not a valid namespace name");
        }
        Path file = NETNS_DIR.resolve(name);
        AtomicReference<T> result = new AtomicReference<>();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread thread = new Thread(() -> {
            int fd = LIBC.open(file.toString(), LibC.O_RDONLY | LibC.O_CLOEXEC);
            if (fd < 0) {
                int errno = LibC.errno();
                failure.set(errno == LibC.ENOENT
                        ? new IOException("network namespace " + name + " does not exist (no " + file + "): create it with 'ip netns add " + name + "'")
                        : new ErrnoException("open " + file, errno));
                return;
            }
            try {
                if (LIBC.setns(fd, LibC.CLONE_NEWNET) < 0) {
                    failure.set(ErrnoException.last("setns " + file));
                    return;
                }
                result.set(work.run());
            } catch (IOException | RuntimeException e) {
                failure.set(e);
            } finally {
                LIBC.close(fd);
            }
        }, "netns-" + name);
        thread.start();
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while opening sockets in namespace " + name, e);
        }
        Throwable t = failure.get();
        if (t instanceof IOException io) {
            throw io;
        }
        if (t instanceof RuntimeException re) {
            throw re;
        }
        return result.get();
    }
}
