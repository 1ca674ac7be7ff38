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

/**
 * The daemon's claim on its state directory: an exclusive lock on {@code STATE_DIR/vswitchd.lock},
 * held for the daemon's life, so a second daemon given the same {@code --state-dir} (with another
 * {@code --socket}) is refused instead of writing the same configuration file.
 *
 * <p>Why this is safe across processes on Linux: {@link FileChannel#tryLock()} is an {@code fcntl}
 * (POSIX) record lock, which the kernel keeps per process and drops when the process exits however it
 * ends (even {@code kill -9}), so a crash never leaves a stale claim and the next daemon starts. Such a
 * lock is also dropped when its process closes <em>any</em> descriptor of the file, so nothing else in
 * the daemon opens this file; within one JVM a second claim fails with
 * {@link OverlappingFileLockException}, which is refused the same way. The file holds the owner's PID
 * for the refusal message only; the lock, not the file's presence, is the claim, and the file is left
 * in place on exit (deleting it would race with a daemon that has just opened it).
 */
final class StateDirLock implements AutoCloseable {
    static final String FILE_NAME = "vswitchd.lock";

    private final FileChannel channel;
    private final FileLock lock;

    private StateDirLock(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    /**
     * Claims {@code stateDir} for this process, creating it if needed.
     *
     * @throws IOException naming the holder and the fix if another daemon holds it
     */
    static StateDirLock acquire(Path stateDir) throws IOException {
        Files.createDirectories(stateDir);
        Path file = stateDir.resolve(FILE_NAME);
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
                throw new IOException("the state directory " + stateDir.toAbsolutePath() + " is in use by "
                        + holder(channel) + " (it holds " + file.toAbsolutePath() + "): stop that vswitchd or choose "
                        + "another --state-dir");
            }
            byte[] pid = (ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII);
            channel.truncate(0);
            channel.write(ByteBuffer.wrap(pid), 0);
            return new StateDirLock(channel, lock);
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

    /** Gives the directory up; called last when the daemon stops (the process exit would do it too). */
    @Override
    public void close() throws IOException {
        try {
            lock.release();
        } finally {
            channel.close();
        }
    }
}
