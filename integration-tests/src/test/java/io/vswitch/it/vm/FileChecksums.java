package io.vswitch.it.vm;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Files moved between guests and namespaces, compared by their MD5 sums. */
public final class FileChecksums {
    private static final Pattern MD5 = Pattern.compile("\\b([0-9a-f]{32})\\b");

    private FileChecksums() {
    }

    /** Writes {@code bytes} seeded random bytes to {@code file}; returns their MD5 in hex. */
    public static String writeRandom(Path file, int bytes, long seed) throws IOException {
        byte[] data = new byte[bytes];
        new Random(seed).nextBytes(data);
        Files.write(file, data);
        return md5(data);
    }

    /** The MD5 printed by {@code md5sum} (in a guest or a namespace). */
    public static String md5Of(String md5sumOutput) {
        Matcher m = MD5.matcher(md5sumOutput);
        if (!m.find()) {
            throw new AssertionError("no MD5 in: " + md5sumOutput);
        }
        return m.group(1);
    }

    public static String md5(byte[] data) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(data));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }
}
