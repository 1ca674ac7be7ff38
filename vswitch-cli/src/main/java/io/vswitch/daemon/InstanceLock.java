package io.vswitch.daemon;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * The daemon's claim on what it writes: an exclusive lock on {@code STATE_DIR/vswitchd.lock} and,
 * when {@code --config} names a file outside the state directory, on {@code CONFIG.lock} beside it,
 * both held for the daemon's life. A second daemon given the same {@code --state-dir}, or another
 * state directory but the same {@code --config}, is refused instead of writing the same
 * configuration file (each would overwrite the other's ports on every change).
 *
 * <p>Why this is safe across processes on Linux: {@link FileChannel#tryLock()} is an {@code fcntl}
 * (POSIX) record lock, which the kernel keeps per process and drops when the process exits however it
 * ends (even {@code kill -9}), so a crash never leaves a stale claim and the next daemon starts. Such a
 * lock is also dropped when its process closes <em>any</em> descriptor of the file, so nothing else in
 * the daemon opens these files; within one JVM a second claim fails with
 * {@link OverlappingFileLockException}, which is refused the same way. The configuration file itself
 * cannot carry the lock: it is replaced by a rename on every write, and a lock belongs to the old
 * file. A lock file holds the owner's PID for the refusal message only; the lock, not the file's
 * presence, is the claim, and the file is left in place on exit (deleting it would race with a daemon
 * that has just opened it).
 */
final class InstanceLock implements AutoCloseable {
    static final String STATE_DIR_FILE = "vswitchd.lock";

    private final List<FileChannel> channels;

    private InstanceLock(List<FileChannel> channels) {
        this.channels = channels;
    }

    /**
     * Claims {@code stateDir} (creating it if needed) and, if it lies elsewhere, {@code configFile}
     * for this process; on refusal nothing stays claimed.
     *
     * @throws IOException naming what is in use, its holder and the fix if another daemon holds it
     */
    static InstanceLock acquire(Path stateDir, Path configFile) throws IOException {
        Files.createDirectories(stateDir);
        List<FileChannel> held = new ArrayList<>(2);
        try {
            held.add(claim(stateDir.resolve(STATE_DIR_FILE), "the state directory " + stateDir.toAbsolutePath(),
                    "--state-dir"));
            Path config = configFile.toAbsolutePath().normalize();
            if (!config.getParent().equals(stateDir.toAbsolutePath().normalize())) {
                Files.createDirectories(config.getParent());
                held.add(claim(config.resolveSibling(config.getFileName() + ".lock"), "the configuration file " + config,
                        "--config"));
            }
            return new InstanceLock(held);
        } catch (IOException | RuntimeException e) {
            for (FileChannel channel : held) {
                try {
                    channel.close();
                } catch (IOException closeFailure) {
                    e.addSuppressed(closeFailure);
                }
            }
            throw e;
        }
    }

    /** Locks {@code file} and writes this process's PID into it; the open channel holds the lock. */
    private static FileChannel claim(Path file, String what, String option) throws IOException {
        FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE);
        try {
            FileLock lock;
            try {
                lock = channel.tryLock();
            } catch (OverlappingFileLockException e) {
                lock = null; // held by another daemon in this JVM
            }
            if (lock == null) {
                throw new IOException(what + " is in use by " + holder(channel) + " (it holds " + file + "): stop that "
                        + "vswitchd or choose another " + option);
            }
            byte[] pid = (ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII);
            channel.truncate(0);
            channel.write(ByteBuffer.wrap(pid), 0);
            return channel;
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    /** "vswitchd (pid N)" from the holder's file, or just "another vswitchd" if it is unreadable. */
    private static String holder(FileChannel channel) {
        try {
            ByteBuffer buffer = ByteBuffer.allocate(32);
            channel.read(buffer, 0);
            String text = new String(buffer.array(), 0, buffer.position(), StandardCharsets.US_ASCII).trim();
            if (text.matches("[0-9]{1,10}")) {
                return "vswitchd (pid " + text + ")";
            }
        } catch (IOException e) {
            // fall through: the refusal does not depend on knowing the PID
        }
        return "another vswitchd";
    }

    /** Gives everything up (closing a channel releases its lock); called last when the daemon stops. */
    @Override
    public void close() throws IOException {
        IOException failure = null;
        for (FileChannel channel : channels) {
            try {
                channel.close();
            } catch (IOException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }
}
