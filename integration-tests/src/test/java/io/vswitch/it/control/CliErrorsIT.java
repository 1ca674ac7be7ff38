package io.vswitch.it.control;

import io.vswitch.it.harness.SwitchTestBase;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.it.harness.Exec;
import io.vswitch.it.harness.ExecResult;
import io.vswitch.it.harness.SwitchProcess;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * What the client says when something is wrong, and its exit codes: 1 for errors (the daemon
 * refused, or cannot be reached), 2 for usage errors. Messages name what was wrong and how to fix it.
 */
class CliErrorsIT extends SwitchTestBase {

    @Test
    void unknownPortIsNamedAndTheExistingPortsListed() {
        start();
        String p1 = ns.linkName("p1");
        String p2 = ns.linkName("p2");
        cli("add-port", p1, "--type", "tap");
        cli("add-port", p2, "--type", "tap");
        String missing = ns.linkName("no");
        for (List<String> args : List.of(
                List.of("set-port", missing, "--vlan", "3"),
                List.of("del-port", missing),
                List.of("fdb", "show", "--port", missing),
                List.of("fdb", "add", "02:00:00:00:00:01", "--port", missing),
                List.of("fdb", "flush", "--port", missing),
                List.of("stats", missing),
                List.of("flows", "--port", missing),
                List.of("capture", missing, "-c", "1"))) {
            ExecResult r = cliFails(1, args.toArray(String[]::new));
            String err = r.stderr();
            assertTrue(err.startsWith("vswitch: no port named '" + missing + "'"), r::describe);
            assertTrue(err.contains("ports are: " + p1 + ", " + p2), r::describe);
            assertEquals("", r.stdout(), r::describe);
        }
        // nothing changed
        assertEquals(List.of(p1, p2), portNames());
        assertEquals(0, json("show").path("fdb").path("static").asInt(), "no static entry was made");
    }

    @Test
    void noPortsYetSaysHowToAddOne() {
        start();
        ExecResult r = cliFails(1, "del-port", "ghost0");
        assertTrue(r.stderr().contains("no port named 'ghost0'"), r::describe);
        assertTrue(r.stderr().contains("vswitch add-port NAME --type tap"), r::describe);
    }

    @Test
    void vlanOutOfRangeSays1To4094() {
        start();
        String p = ns.linkName("p");
        cli("add-port", p, "--type", "tap");
        String q = ns.linkName("q");
        for (List<String> args : List.of(
                List.of("add-port", q, "--type", "tap", "--vlan", "5000"),
                List.of("add-port", q, "--type", "tap", "--trunk", "10,5000"),
                List.of("set-port", p, "--vlan", "5000"),
                List.of("set-port", p, "--trunk", "10", "--native", "5000"),
                List.of("fdb", "add", "02:00:00:00:00:01", "--port", p, "--vlan", "5000"),
                List.of("fdb", "del", "02:00:00:00:00:01", "--vlan", "5000"))) {
            ExecResult r = sw.cli(args.toArray(String[]::new));
            assertTrue(r.exitCode() == 1 || r.exitCode() == 2, r::describe);
            assertTrue(r.stderr().contains("1-4094"), r::describe);
        }
        assertEquals(List.of(p), portNames());
        assertEquals("trunk all", port(p).path("vlanMode").asText());
        assertEquals(0, json("show").path("fdb").path("static").asInt(), "no static entry was made");
    }

    @Test
    void badMacSaysTheFormat() {
        start();
        String p = ns.linkName("p");
        cli("add-port", p, "--type", "tap");
        for (List<String> args : List.of(
                List.of("fdb", "add", "zz:11", "--port", p),
                List.of("fdb", "add", "02:00:00:00:00:0g", "--port", p),
                List.of("fdb", "del", "02-00-00-00-00-01"),
                List.of("add-port", ns.linkName("q"), "--type", "tap", "--mac", "02:00:00:00:01"))) {
            ExecResult r = cliFails(1, args.toArray(String[]::new));
            assertTrue(r.stderr().contains("six hex pairs like 02:00:00:00:00:01"), r::describe);
        }
        assertEquals(0, json("show").path("fdb").path("static").asInt(), "no static entry was made");
    }

    @Test
    void usageErrorsExitWith2() {
        start();
        for (List<String> args : List.of(
                List.of("frobnicate"),
                List.of("show", "--bogus"),
                List.of("fdb", "bogus"),
                List.of("add-port", "x0"),
                List.of("set-port", "x0", "--learning", "maybe"),
                List.of("set-port", "x0", "--vlan", "ten"),
                List.of("stats", "--count"))) {
            ExecResult r = cliFails(2, args.toArray(String[]::new));
            assertTrue(r.stderr().startsWith("vswitch: "), r::describe);
            assertTrue(r.stderr().contains("--help' for usage"), r::describe);
        }
        ExecResult r = cliFails(2, "set-port", "x0", "--learning", "maybe");
        assertTrue(r.stderr().contains("'maybe' is not on or off"), r::describe);
        ExecResult none = vswitch();
        assertEquals(2, none.exitCode(), "no command at all: " + none.describe());
    }

    @Test
    void daemonNotRunningTellsHowToStartIt() {
        Path dir = tempDir("nodaemon");
        ExecResult r = vswitch("--socket", dir.resolve("nothing.sock").toString(), "show");
        assertEquals(1, r.exitCode(), r::describe);
        assertTrue(r.stderr().contains("cannot reach the daemon at " + dir.resolve("nothing.sock")), r::describe);
        assertTrue(r.stderr().contains("Start it with 'sudo ./vswitch daemon'"), r::describe);

        // a socket file left by a daemon that was killed: same advice
        SwitchProcess dead = start();
        dead.kill9();
        ExecResult stale = cliFails(1, "list-ports");
        assertTrue(stale.stderr().contains("Connection refused") && stale.stderr().contains("vswitch daemon"), stale::describe);
    }

    @Test
    void socketWorksBeforeAndAfterTheCommandAndFromTheEnvironment() {
        start();
        String p = ns.linkName("p");
        cli("add-port", p, "--type", "tap");
        String s = sw.socket().toString();
        for (List<String> args : List.of(
                List.of("--socket", s, "list-ports"),
                List.of("list-ports", "--socket", s),
                List.of("--socket", s, "fdb", "show"),
                List.of("fdb", "show", "--socket", s),
                List.of("fdb", "--socket", s, "show"),
                List.of("--socket", s, "stats", p),
                List.of("stats", p, "--socket", s),
                List.of("stats", "--socket", s, p))) {
            ExecResult r = vswitch(args.toArray(String[]::new));
            assertTrue(r.ok(), r::describe);
        }
        assertTrue(vswitch("list-ports", "--socket", s).stdout().contains(p));
        assertTrue(vswitch("--socket", s, "list-ports").stdout().contains(p));
        ExecResult env = Exec.run("env", "VSWITCH_SOCKET=" + s, SwitchProcess.repoRoot().resolve("vswitch").toString(), "list-ports");
        assertTrue(env.ok() && env.stdout().contains(p), env::describe);
        // the one after the command name wins over the one before it
        ExecResult both = vswitch("--socket", "/nonexistent/x.sock", "list-ports", "--socket", s);
        assertTrue(both.ok() && both.stdout().contains(p), both::describe);
    }
}
