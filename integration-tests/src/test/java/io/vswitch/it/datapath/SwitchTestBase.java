package io.vswitch.it.datapath;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vswitch.it.harness.ExecResult;
import io.vswitch.it.harness.Namespaces;
import io.vswitch.it.harness.Requirements;
import io.vswitch.it.harness.SwitchProcess;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/**
 * One switch process and fresh namespaces per test; each {@link Host} is a namespace whose TAP port
 * was added to the switch with {@code add-port} and got an address from 198.18.0.0/15. IPv6 is off
 * in the namespaces so that no router solicitations or MLD reports add frames the tests count.
 */
abstract class SwitchTestBase {
    static final ObjectMapper JSON = new ObjectMapper();

    Namespaces ns;
    SwitchProcess sw;

    /** A namespace on the switch: its name, its TAP (= port name), address and MAC. */
    record Host(String netns, String port, String ip, String mac) {
    }

    @BeforeEach
    void startSwitch() {
        Requirements.check("arping");
        ns = new Namespaces();
        sw = SwitchProcess.start();
    }

    @AfterEach
    void stopSwitch() {
        try {
            if (sw != null) {
                sw.close();
            }
        } finally {
            if (ns != null) {
                ns.close();
            }
        }
    }

    /** A namespace with a TAP port added with {@code portOptions}, address {@code cidr} on it, link up. */
    Host host(String role, String cidr, String... portOptions) {
        String netns = ns.create(role);
        ns.exec(netns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1").orThrow();
        ns.exec(netns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1").orThrow();
        String port = ns.linkName(role);
        List<String> args = new ArrayList<>(List.of("add-port", port, "--type", "tap", "--netns", netns));
        args.addAll(List.of(portOptions));
        cli(args.toArray(String[]::new));
        if (cidr != null) {
            ns.addAddress(netns, port, cidr);
        }
        ns.linkUp(netns, port);
        return new Host(netns, port, cidr == null ? null : cidr.substring(0, cidr.indexOf('/')), ns.macAddress(netns, port));
    }

    /** Runs a client command that must succeed. */
    ExecResult cli(String... args) {
        ExecResult r = sw.cli(args);
        assertTrue(r.ok(), () -> "vswitch " + String.join(" ", args) + " failed: " + r.describe() + "\n" + sw.outputTail());
        return r;
    }

    JsonNode json(String... args) {
        String[] withJson = new String[args.length + 1];
        System.arraycopy(args, 0, withJson, 0, args.length);
        withJson[args.length] = "--json";
        try {
            return JSON.readTree(cli(withJson).stdout());
        } catch (IOException e) {
            throw new AssertionError("not JSON: " + e.getMessage(), e);
        }
    }

    /** The port's entry in {@code show --json}. */
    JsonNode port(String name) {
        for (JsonNode p : json("show").path("ports")) {
            if (p.path("name").asText().equals(name)) {
                return p;
            }
        }
        throw new AssertionError("port " + name + " not in show");
    }

    /** FDB entries as "mac port vlan" strings. */
    List<String> fdb() {
        List<String> out = new ArrayList<>();
        for (JsonNode e : json("fdb", "show")) {
            out.add(e.path("mac").asText() + " " + e.path("port").asText() + " " + e.path("vlan").asInt());
        }
        return out;
    }

    static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
