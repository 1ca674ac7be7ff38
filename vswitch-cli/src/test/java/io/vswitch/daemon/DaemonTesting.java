package io.vswitch.daemon;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.fail;

import java.time.Duration;
import java.util.function.BooleanSupplier;

/** What the daemon tests share: the frame they send through real ports, waiting, finding a datapath thread. */
final class DaemonTesting {
    private DaemonTesting() {
    }

    /**
     * A 60-byte broadcast from 02:00:00:00:00:01 of a local experimental EtherType (0x88b5), numbered
     * by {@code seq} in its first payload byte: flooded to every other port, dropped when there is none.
     */
    static byte[] broadcast(int seq) {
        byte[] f = new byte[60];
        for (int i = 0; i < 6; i++) {
            f[i] = (byte) 0xff;
        }
        f[6] = 0x02;
        f[11] = 0x01;
        f[12] = (byte) 0x88;
        f[13] = (byte) 0xb5;
        f[14] = (byte) seq;
        return f;
    }

    /** Waits up to 20 s for {@code condition}, failing with {@code what} if it does not come. */
    static void awaitTrue(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail("timed out waiting until " + what);
            }
            Thread.sleep(10);
        }
    }

    /** The live thread named {@code name} (a datapath thread: dp-PORT-qN or dp-N). */
    static Thread thread(String name) {
        Thread found = Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().equals(name)).findFirst()
                .orElse(null);
        assertNotNull(found, "no thread named " + name);
        return found;
    }
}
