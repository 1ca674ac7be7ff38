package io.vswitch.it.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.cli.VswitchCli;
import io.vswitch.it.harness.Exec;
import io.vswitch.it.harness.ExecResult;
import io.vswitch.it.harness.SwitchProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * What the vswitch-cli build generates besides the jar: a troff man page for every command
 * (picocli's ManPageGenerator, then Asciidoctor) and the bash completion script. Needs no root.
 */
class BuildArtifactsIT {
    private static final Path TARGET = SwitchProcess.repoRoot().resolve("vswitch-cli/target");

    @Test
    void thereIsAManPageForEveryCommandAndEachRendersCleanly() throws Exception {
        Path man = TARGET.resolve("man");
        assertTrue(Files.isDirectory(man), man + " is missing: build vswitch-cli (mvn -pl vswitch-cli package)");
        Set<String> expected = new TreeSet<>();
        names(VswitchCli.commandLine(), "vswitch", expected);
        Set<String> pages;
        try (Stream<Path> files = Files.list(man)) {
            pages = files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".1"))
                    .map(n -> n.substring(0, n.length() - 2)).collect(Collectors.toCollection(TreeSet::new));
        }
        assertEquals(expected, pages);

        Assumptions.assumeTrue(Exec.which("groff").isPresent(), "groff is not installed: cannot render the pages");
        for (String page : pages) {
            ExecResult r = Exec.run("groff", "-man", "-Tutf8", "-P-cbou", "-ww", man.resolve(page + ".1").toString());
            assertTrue(r.ok(), r::describe);
            assertEquals("", r.stderr(), r::describe);
            String title = page.toUpperCase(java.util.Locale.ROOT) + "(1)";
            assertTrue(r.stdout().contains(title), r::describe);
        }
        String setPort = Exec.run("groff", "-man", "-Tascii", "-P-cbou", man.resolve("vswitch-set-port.1").toString()).stdout();
        for (String section : List.of("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS")) {
            assertTrue(setPort.contains("\n" + section + "\n"), section + " in:\n" + setPort);
        }
        assertTrue(setPort.contains("--learning=on|off"), setPort);
        assertTrue(setPort.contains("Learn source addresses."), setPort);
    }

    @Test
    void theCompletionScriptIsValidBashAndCompletesSubcommands() throws Exception {
        Path script = TARGET.resolve("vswitch_completion");
        assertTrue(Files.isRegularFile(script), script + " is missing: build vswitch-cli");
        assertTrue(Exec.run("bash", "-n", script.toString()).ok());
        ExecResult r = Exec.run("bash", "-c", "source " + script
                + "; COMP_WORDS=(vswitch set-p); COMP_CWORD=1; COMP_LINE='vswitch set-p'; COMP_POINT=${#COMP_LINE};"
                + " _complete_vswitch vswitch set-p vswitch 2>/dev/null; echo \"${COMPREPLY[*]}\";"
                + " COMP_WORDS=(vswitch set-port p0 --lea); COMP_CWORD=3; COMP_LINE='vswitch set-port p0 --lea'; COMP_POINT=${#COMP_LINE};"
                + " _complete_vswitch vswitch --lea p0 2>/dev/null; echo \"${COMPREPLY[*]}\"");
        assertEquals(List.of("set-port", "--learning"), r.stdout().lines().map(String::trim).toList(), r::describe);
    }

    /** vswitch, vswitch-add-port, vswitch-fdb, vswitch-fdb-show, ...: the page names picocli gives. */
    private static void names(CommandLine cmd, String name, Set<String> out) {
        if (cmd.getCommandSpec().usageMessage().hidden()) {
            return;
        }
        out.add(name);
        List<String> seen = new ArrayList<>();
        cmd.getSubcommands().forEach((sub, c) -> {
            if (!seen.contains(c.getCommandName())) {
                seen.add(c.getCommandName());
                names(c, name + "-" + c.getCommandName(), out);
            }
        });
    }
}
