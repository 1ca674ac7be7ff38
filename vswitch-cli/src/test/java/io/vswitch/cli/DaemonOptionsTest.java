package io.vswitch.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code vswitch daemon} refuses bad options before it touches anything, naming the problem and the fix. */
class DaemonOptionsTest {
    @TempDir
    Path dir;

    @Test
    void aBusyPollBudgetOutOfRangeIsRefusedWithTheRange() {
        for (String bad : new String[] {"-1", "1001"}) {
            Path state = dir.resolve("state" + bad);
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            PrintStream saved = System.err;
            int code;
            try {
                System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
                code = VswitchCli.commandLine().execute("daemon", "--state-dir", state.toString(), "--busy-poll-us", bad);
            } finally {
                System.setErr(saved);
            }
            String message = err.toString(StandardCharsets.UTF_8);
            assertEquals(2, code, message);
            assertTrue(message.contains("--busy-poll-us " + bad + " is out of range") && message.contains("0 (off) to 1000"),
                    message);
            assertTrue(Files.notExists(state), "nothing was created for a refused daemon");
        }
    }

    @Test
    void aDatapathThreadCountOutOfRangeIsRefusedWithTheRange() {
        for (String bad : new String[] {"-1", "65"}) {
            Path state = dir.resolve("threads" + bad);
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            PrintStream saved = System.err;
            int code;
            try {
                System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
                code = VswitchCli.commandLine().execute("daemon", "--state-dir", state.toString(), "--datapath-threads", bad);
            } finally {
                System.setErr(saved);
            }
            String message = err.toString(StandardCharsets.UTF_8);
            assertEquals(2, code, message);
            assertTrue(message.contains("--datapath-threads " + bad + " is out of range") && message.contains("1 to 64")
                    && message.contains("e.g. --datapath-threads 1"), message);
            assertTrue(Files.notExists(state), "nothing was created for a refused daemon");
        }
    }
}
