package io.vswitch.it.control;

import io.vswitch.it.harness.SwitchTestBase;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.it.harness.Exec;
import io.vswitch.it.harness.ExecResult;
import io.vswitch.it.harness.Requirements;
import io.vswitch.it.harness.SwitchProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Who may use the control socket: root, and with {@code --group G} the members of G. Clients run
 * as {@code nobody} through {@code setpriv}. The group is an existing one that nobody is not a
 * member of (the client gets it as a supplementary group only for its own process), so the tests
 * change nothing on the machine; only if there is no such group is one created and deleted again.
 */
class PermissionsIT extends SwitchTestBase {
    private static final int NOBODY = 65534;

    @BeforeEach
    void needSetpriv() {
        Requirements.check("setpriv");
    }

    @Test
    void nonRootClientIsRefusedByTheDaemonWithPermissionDenied() throws Exception {
        start(SwitchProcess.builder().stateDir(tempDir("perm")));
        // Let nobody reach the socket, so that it is the daemon's SO_PEERCRED check that refuses
        Files.setPosixFilePermissions(sw.stateDir(), PosixFilePermissions.fromString("rwxr-xr-x"));
        ExecResult byMode = asNobody(List.of(), "show");
        assertEquals(1, byMode.exitCode(), byMode::describe);
        assertTrue(byMode.stderr().contains("no permission to use the daemon's socket " + sw.socket()), byMode::describe);

        Set<PosixFilePermission> mode = Files.getPosixFilePermissions(sw.socket());
        assertEquals(PosixFilePermissions.fromString("rw-rw----"), mode, "the socket's mode");
        Files.setPosixFilePermissions(sw.socket(), PosixFilePermissions.fromString("rw-rw-rw-"));
        String port = ns.linkName("p");
        cli("add-port", port, "--type", "tap");

        for (String[] args : List.of(new String[] {"show"}, new String[] {"del-port", port}, new String[] {"set-ageing", "5"})) {
            ExecResult r = asNobody(List.of(), args);
            assertEquals(1, r.exitCode(), r::describe);
            assertTrue(r.stderr().contains("vswitch: uid " + NOBODY + " may not manage this switch: run as root"), r::describe);
        }
        assertTrue(sw.output().contains("control socket: refused uid=" + NOBODY + " gid=" + NOBODY), sw::outputTail);
        assertEquals(List.of(port), portNames(), "a refused client changed nothing");
        assertEquals(300, json("show").path("fdb").path("ageingSeconds").asInt());
    }

    @Test
    void membersOfTheGroupGivenWithGroupAreAllowed() throws Exception {
        String group = groupWithoutNobody();
        int gid = gidOf(group);
        start(SwitchProcess.builder().stateDir(tempDir("grp")).args("--group", group));
        Files.setPosixFilePermissions(sw.stateDir(), PosixFilePermissions.fromString("rwxr-xr-x"));
        assertEquals(gid, (Integer) Files.getAttribute(sw.socket(), "unix:gid"), "socket group");
        assertEquals(PosixFilePermissions.fromString("rw-rw----"), Files.getPosixFilePermissions(sw.socket()));

        String port = ns.linkName("p");
        ExecResult add = asNobody(List.of(gid), "add-port", port, "--type", "tap", "--vlan", "12");
        assertTrue(add.ok(), add::describe);
        ExecResult show = asNobody(List.of(gid), "show", "--json");
        assertTrue(show.ok(), show::describe);
        assertEquals("access vlan 12", JSON.readTree(show.stdout()).path("ports").get(0).path("vlanMode").asText());
        assertEquals(List.of(port), portNames(), "root may still manage it");

        // nobody without the group: the socket's mode already keeps it out
        ExecResult outsider = asNobody(List.of(), "show");
        assertEquals(1, outsider.exitCode(), outsider::describe);
        assertTrue(outsider.stderr().contains("no permission to use the daemon's socket"), outsider::describe);
        // and with the socket opened up, the daemon itself refuses, naming the group
        Files.setPosixFilePermissions(sw.socket(), PosixFilePermissions.fromString("rw-rw-rw-"));
        ExecResult refused = asNobody(List.of(), "del-port", port);
        assertEquals(1, refused.exitCode(), refused::describe);
        assertTrue(refused.stderr().contains("may not manage this switch: run as root or as a member of group " + gid), refused::describe);
        assertEquals(List.of(port), portNames());
    }

    /** {@code setpriv --reuid=nobody --regid=nogroup --groups=...|--clear-groups ./vswitch --socket S args...} (VSWITCH_JAVA_OPTS carries -XX:-UsePerfData so no perf data file is left behind). */
    private ExecResult asNobody(List<Integer> groups, String... args) {
        List<String> cmd = new ArrayList<>(List.of("setpriv", "--reuid=" + NOBODY, "--regid=" + NOBODY));
        if (groups.isEmpty()) {
            cmd.add("--clear-groups");
        } else {
            cmd.add("--groups=" + String.join(",", groups.stream().map(String::valueOf).toList()));
        }
        // no /tmp/hsperfdata_nobody left behind
        cmd.addAll(List.of("env", "VSWITCH_JAVA_OPTS=-XX:-UsePerfData"));
        cmd.add(SwitchProcess.repoRoot().resolve("vswitch").toString());
        cmd.add("--socket");
        cmd.add(sw.socket().toString());
        cmd.addAll(List.of(args));
        return Exec.run(Exec.DEFAULT_TIMEOUT, SwitchProcess.repoRoot(), cmd);
    }

    /** An existing group nobody is not in (not root's, not nogroup); else a new one, deleted after the test. */
    private String groupWithoutNobody() throws IOException {
        for (String line : Files.readAllLines(Path.of("/etc/group"))) {
            String[] f = line.split(":", -1);
            if (f.length < 4 || f[2].isEmpty()) {
                continue;
            }
            int gid = Integer.parseInt(f[2]);
            boolean nobodyIn = List.of(f[3].split(",")).contains("nobody");
            if (gid >= 100 && gid < NOBODY && !nobodyIn && f[0].equals("users")) {
                return f[0];
            }
        }
        Requirements.check("groupadd", "groupdel");
        String name = io.vswitch.it.harness.Namespaces.runPrefix() + "grp";
        Exec.run("groupadd", name).orThrow();
        onCleanup(() -> Exec.run("groupdel", name));
        return name;
    }

    private static int gidOf(String group) throws IOException {
        for (String line : Files.readAllLines(Path.of("/etc/group"))) {
            String[] f = line.split(":", -1);
            if (f[0].equals(group)) {
                return Integer.parseInt(f[2]);
            }
        }
        throw new AssertionError("no group " + group);
    }
}
