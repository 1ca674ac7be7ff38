package io.vswitch.it.pool;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.vswitch.it.harness.PingResult;
import io.vswitch.it.harness.SwitchProcess;
import io.vswitch.it.harness.SwitchTestBase;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code vswitch daemon --datapath-threads N}: two namespaces on TAPs with two queues each and a host
 * namespace behind a system port (a veth whose root-namespace end is on the switch), all served by a
 * pool of one or two datapath threads. Ping and iperf3 TCP both ways across TAP-TAP and TAP-system,
 * and {@code show --json} names the pool thread of every queue, spread over the pool
 * least-loaded-first.
 */
class PoolModeIT extends SwitchTestBase {

    @ParameterizedTest(name = "--datapath-threads {0}")
    @ValueSource(ints = {1, 2})
    void tapAndSystemPortsForwardOnAPool(int threads) {
        start(SwitchProcess.builder().args("--datapath-threads", Integer.toString(threads)));
        Host a = host("a", "198.19.62.1/24", "--queues", "2");
        Host b = host("b", "198.19.62.2/24", "--queues", "2");
        String hostNs = ns.create("h");
        ns.exec(hostNs, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1").orThrow();
        String hostSide = ns.linkName("v");
        String uplink = rootVeth("u", hostNs, hostSide);
        cli("add-port", uplink, "--type", "system");
        Host h = configure(hostNs, hostSide, "198.19.62.3/24");

        for (String[] pair : new String[][] {{a.netns(), b.ip()}, {b.netns(), a.ip()}, {a.netns(), h.ip()},
            {h.netns(), b.ip()}}) {
            PingResult ping = ns.ping(pair[0], pair[1], 3, 0.2);
            assertTrue(ping.allReceived(), () -> pair[0] + " -> " + pair[1] + ": " + ping);
        }
        assertTcp(a, b, false);
        assertTcp(a, h, false);
        assertTcp(a, h, true);

        List<String> expected = new ArrayList<>();
        List<String> seen = new ArrayList<>();
        int next = 0;
        for (String port : List.of(a.port(), b.port(), uplink)) {
            JsonNode view = port(port);
            assertEquals("running", view.path("datapath").asText(), view::toString);
            for (JsonNode q : view.path("datapathQueues")) {
                seen.add(port + " q" + q.path("queue").asInt() + " " + q.path("thread").asText());
                expected.add(port + " q" + q.path("queue").asInt() + " dp-" + (next++ % threads));
            }
        }
        assertEquals(5, seen.size(), seen::toString);
        assertEquals(expected, seen, "queues go to the least-loaded pool thread, lowest index first");
    }

    private void assertTcp(Host client, Host server, boolean reverse) {
        JsonNode result = reverse ? iperf3(client, server, 2, "-R") : iperf3(client, server, 2);
        double bps = result.path("end").path("sum_received").path("bits_per_second").asDouble();
        assertTrue(bps > 1e6, () -> client.ip() + (reverse ? " <- " : " -> ") + server.ip() + ": " + bps + " bit/s\n"
                + sw.outputTail());
    }
}
