package io.vswitch.it.vxlan;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import io.vswitch.it.harness.BackgroundProcess;
import io.vswitch.it.harness.ExecResult;
import io.vswitch.it.harness.Requirements;
import io.vswitch.it.harness.SwitchProcess;
import io.vswitch.it.harness.SwitchTestBase;
import java.io.IOException;
import java.time.Duration;
import org.junit.jupiter.api.BeforeEach;

/** What the VXLAN tests share: their requirements, a daemon, TCP throughput and FDB lookups. */
abstract class VxlanTestBase extends SwitchTestBase {

    @BeforeEach
    void startSwitch() {
        Requirements.check("bridge", "ethtool", "python3");
        start(daemon());
    }

    /** The daemon each test starts with; a subclass may add options. */
    protected SwitchProcess.Builder daemon() {
        return SwitchProcess.builder();
    }

    /** {@code add-port NAME --type vxlan ...} on the current daemon, its socket in {@code netns}. */
    protected String vxlanPort(int vni, String local, String remote, String netns, String... more) {
        String name = ns.linkName("vx");
        java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("add-port", name, "--type", "vxlan",
                "--vni", Integer.toString(vni), "--local", local, "--remote", remote, "--netns", netns));
        args.addAll(java.util.List.of(more));
        cli(args.toArray(String[]::new));
        return name;
    }

    /** The current daemon's FDB entry for {@code mac} ({@code fdb show --json}). */
    protected JsonNode fdbEntry(String mac) {
        for (JsonNode e : json("fdb", "show")) {
            if (e.path("mac").asText().equals(mac)) {
                return e;
            }
        }
        throw new AssertionError(mac + " not in the fdb: " + json("fdb", "show"));
    }

    /** iperf3 TCP for 2 s from client to server; the receiver's bits per second. */
    protected double iperfBits(String clientNs, String serverNs, String serverIp) {
        try (BackgroundProcess s = ns.iperf3Server(serverNs, serverIp)) {
            ExecResult r = ns.exec(clientNs, Duration.ofSeconds(30), "iperf3", "-c", serverIp, "-J", "-t", "2");
            assertEquals(0, r.exitCode(), r::describe);
            return JSON.readTree(r.stdout()).path("end").path("sum_received").path("bits_per_second").asDouble();
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }
}
