package io.vswitch.it.daemonlife;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.vswitch.it.harness.SwitchProcess;
import io.vswitch.it.harness.SwitchTestBase;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * One state directory, one configuration file, one daemon: a second daemon given the first's
 * {@code --state-dir} (and its own {@code --socket}), or its own state directory but the first's
 * {@code --config}, is refused before it touches anything, names the first's PID and the fix, and the
 * first keeps running with its configuration intact. All are real {@code ./vswitch daemon} processes
 * (the locks are fcntl locks, which only a second process can contend for).
 */
class InstanceLockIT extends SwitchTestBase {

    @Test
    void aSecondDaemonOnTheSameStateDirIsRefusedAndTheFirstKeepsRunning() throws Exception {
        Path state = tempDir("state");
        SwitchProcess first = start(SwitchProcess.builder().stateDir(state).logFile(logFile("first")));
        Host a = host("a", "198.18.42.1/24", "--vlan", "42");
        Path config = state.resolve("vswitch.json");
        byte[] configBefore = Files.readAllBytes(config);

        String otherNs = ns.create("b");
        String otherTap = ns.linkName("b");
        Path otherSocket = state.resolve("second.sock");
        String message = refusal(SwitchProcess.builder().stateDir(state).socket(otherSocket).logFile(logFile("second"))
                .tapPort(otherTap, 1, otherNs));
        assertTrue(message.contains("vswitch daemon exited with 1 before printing 'ready'"), message);
        assertTrue(message.contains("the state directory " + state + " is in use by vswitchd (pid " + first.pid() + ")"),
                message);
        assertTrue(message.contains("stop that vswitchd or choose another --state-dir"), message);

        assertFalse(Files.exists(otherSocket), "the refused daemon bound no control socket");
        assertFalse(ns.linkExists(otherNs, otherTap), "the refused daemon created no TAP");
        assertTrue(first.isAlive());
        assertArrayEquals(configBefore, Files.readAllBytes(config), "configuration untouched");
        assertEquals(List.of(a.port()), portNames());
        assertTrue(ns.linkExists(a.netns(), a.port()), "the first daemon's TAP is still there");

        // The claim ends with the daemon: a stopped one leaves the directory free for the next.
        assertEquals(0, first.stop());
        start(SwitchProcess.builder().stateDir(state).socket(otherSocket).logFile(logFile("third")));
        assertEquals(List.of(a.port()), portNames());
    }

    @Test
    void aSecondDaemonWritingTheSameConfigFileIsRefused() throws Exception {
        Path shared = tempDir("etc").resolve("vswitch.json");
        SwitchProcess first = start(SwitchProcess.builder().args("--config", shared.toString()).logFile(logFile("first")));
        Host a = host("a", "198.18.43.1/24");
        byte[] configBefore = Files.readAllBytes(shared);

        Path otherState = tempDir("other-state");
        String message = refusal(SwitchProcess.builder().stateDir(otherState).args("--config", shared.toString())
                .logFile(logFile("second")));
        assertTrue(message.contains("the configuration file " + shared + " is in use by vswitchd (pid " + first.pid()
                + ")"), message);
        assertTrue(message.contains("stop that vswitchd or choose another --config"), message);

        assertFalse(Files.exists(otherState.resolve("s.sock")), "the refused daemon bound no control socket");
        assertTrue(first.isAlive());
        assertArrayEquals(configBefore, Files.readAllBytes(shared), "configuration untouched");
        assertEquals(List.of(a.port()), portNames());

        // Freed when the first stops: the next daemon on another state directory takes the file over.
        assertEquals(0, first.stop());
        start(SwitchProcess.builder().stateDir(otherState).args("--config", shared.toString()).logFile(logFile("third")));
        assertEquals(List.of(a.port()), portNames());
    }

    /** The harness's error for a daemon that exits before it is ready; a daemon that does start is stopped. */
    private static String refusal(SwitchProcess.Builder second) {
        try (SwitchProcess started = second.start()) {
            return fail("a second daemon started although the first holds what it would write: " + started);
        } catch (IllegalStateException e) {
            return e.getMessage();
        }
    }
}
