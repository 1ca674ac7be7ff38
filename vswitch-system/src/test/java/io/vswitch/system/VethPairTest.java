package io.vswitch.system;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.linux.IpCommand;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * {@link VethPair} sweeps the pairs a killed test JVM left behind: its names carry the creating JVM's
 * PID, and creating a pair deletes those whose PID no longer runs a JVM, but never a live one's.
 */
class VethPairTest {

    @Test
    void creatingAPairDeletesPairsOfDeadJvmsAndKeepsLiveOnes() throws Exception {
        VethPair.requireRoot();
        Process exited = new ProcessBuilder("true").start();
        exited.waitFor();
        String dead = Long.toHexString(exited.pid()) + "xfff";
        String live = Long.toHexString(ProcessHandle.current().pid()) + "xfff";
        try {
            plant(dead);
            plant(live);
            try (VethPair pair = VethPair.create(1500)) {
                assertTrue(exists(pair.portSide) && exists(pair.wireSide), "the new pair is there");
                assertFalse(exists("vssp" + dead), "the pair of the exited PID is gone");
                assertFalse(exists("vssw" + dead), "and its peer with it");
                assertTrue(exists("vssp" + live) && exists("vssw" + live), "the pair of this live JVM is kept");
            }
        } finally {
            remove("vssp" + dead);
            remove("vssp" + live);
        }
    }

    /** A pair named as a {@link VethPair} made by the JVM of {@code id}'s PID would be. */
    private static void plant(String id) throws IOException {
        IpCommand.run(null, "link", "add", "name", "vssp" + id, "type", "veth", "peer", "name", "vssw" + id);
    }

    private static boolean exists(String link) {
        return Files.exists(Path.of("/sys/class/net", link));
    }

    private static void remove(String link) throws IOException {
        if (exists(link)) {
            IpCommand.run(null, "link", "del", "dev", link);
        }
    }
}
