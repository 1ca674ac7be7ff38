package io.vswitch.daemon;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * The configuration file, written atomically: a temporary file in the same directory is written and
 * fsynced, renamed over the old file, and the directory is fsynced, so after a crash (even
 * {@code kill -9} mid-write) the file holds either the old or the new configuration, never a mix.
 */
public final class ConfigStore {
    public static final String FILE_NAME = "vswitch.json";

    private final Path file;
    private final ObjectMapper json;

    public ConfigStore(Path file, ObjectMapper json) {
        this.file = file.toAbsolutePath();
        this.json = json.copy().enable(SerializationFeature.INDENT_OUTPUT);
    }

    public Path file() {
        return file;
    }

    /** The stored configuration, or the empty default when there is none yet. */
    public SwitchConfig load() throws IOException {
        if (!Files.exists(file)) {
            return SwitchConfig.empty();
        }
        try {
            return json.readValue(file.toFile(), SwitchConfig.class);
        } catch (IOException e) {
            throw new IOException("cannot read configuration " + file + ": " + e.getMessage()
                    + " (fix or move the file away to start from an empty configuration)", e);
        }
    }

    public void save(SwitchConfig config) throws IOException {
        Path dir = file.getParent();
        Files.createDirectories(dir);
        Path tmp = dir.resolve(FILE_NAME + ".tmp");
        byte[] bytes = json.writeValueAsBytes(config);
        try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer buffer = ByteBuffer.wrap(bytes);
            while (buffer.hasRemaining()) {
                out.write(buffer);
            }
            out.force(true);
        }
        try {
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            throw new IOException("the state directory " + dir + " does not support atomic rename", e);
        }
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        }
    }
}
