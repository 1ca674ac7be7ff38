package io.vswitch.it.vm;

import io.vswitch.it.harness.Exec;
import io.vswitch.it.harness.ExecResult;
import io.vswitch.it.harness.Namespaces;
import io.vswitch.it.harness.Requirements;
import io.vswitch.it.harness.SwitchProcess;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

/**
 * What a test guest boots: the Debian kernel that {@code integration-tests/guest/install-deps}
 * unpacked (default {@code /opt/vswitch-guest/kernel}, else {@code -Dvswitch.guest.kernelDir} or
 * {@code $VSWITCH_GUEST_DIR}) and an initramfs that {@code integration-tests/guest/build-initramfs}
 * makes from the host's busybox-static and the kernel's virtio-net modules. Built once per JVM into a
 * temp dir carrying the harness run prefix (so a crashed run's copy is swept), removed at exit.
 */
public final class GuestImage {
    private static GuestImage instance;

    final Path kernel;
    final Path initramfs;
    private final Path dir;

    private GuestImage(Path kernel, Path initramfs, Path dir) {
        this.kernel = kernel;
        this.initramfs = initramfs;
        this.dir = dir;
    }

    /**
     * The image, built on first use. Skips the calling test when QEMU, busybox or the kernel are
     * missing (fails instead when {@code VSWITCH_IT_REQUIRED=1}, as in CI).
     */
    public static synchronized GuestImage get() {
        if (instance != null) {
            return instance;
        }
        Requirements.check("qemu-system-x86_64", "busybox", "ss");
        Path kernelDir = kernelDir();
        List<String> missing = new ArrayList<>();
        if (!Files.isDirectory(kernelDir.resolve("boot")) || !Files.isDirectory(kernelDir.resolve("lib/modules"))) {
            missing.add("no guest kernel unpacked in " + kernelDir);
        }
        if (!missing.isEmpty()) {
            String what = String.join("; ", missing) + ": run integration-tests/guest/install-deps as root";
            if (Requirements.required()) {
                Assertions.fail(what);
            }
            Assumptions.abort(what);
        }
        Path repo = SwitchProcess.repoRoot();
        Path script = repo.resolve("integration-tests/guest/build-initramfs");
        try {
            Path dir = Files.createTempDirectory(Namespaces.runPrefix() + "guest");
            Path initramfs = dir.resolve("initramfs.cpio");
            ExecResult r = Exec.run(Duration.ofSeconds(120), null, List.of(script.toString(), initramfs.toString(), kernelDir.toString()));
            if (!r.ok()) {
                deleteTree(dir);
                throw new IllegalStateException("building the guest initramfs failed: " + r.describe());
            }
            Path kernel = Path.of(r.stdout().trim().lines().reduce((a, b) -> b).orElseThrow());
            GuestImage image = new GuestImage(kernel, initramfs, dir);
            Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(dir), "vsit-guest-image-cleanup"));
            instance = image;
            return image;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Path kernelDir() {
        String prop = System.getProperty("vswitch.guest.kernelDir");
        if (prop != null && !prop.isBlank()) {
            return Path.of(prop);
        }
        String env = System.getenv("VSWITCH_GUEST_DIR");
        return Path.of(env != null && !env.isBlank() ? env : "/opt/vswitch-guest/kernel");
    }

    static void deleteTree(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (var walk = Files.walk(root)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // best effort
        }
    }

    Path dir() {
        return dir;
    }
}
