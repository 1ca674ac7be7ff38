package io.vswitch.it.datapath;

import io.vswitch.it.harness.SwitchTestBase;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.vswitch.it.harness.BackgroundProcess;
import io.vswitch.it.harness.ExecResult;
import java.io.IOException;
import java.time.Duration;
import io.vswitch.it.harness.Requirements;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** iperf3 through the switch: TCP as TSO super-frames, UDP with small packets, multi-queue steering. */
class OffloadTrafficIT extends SwitchTestBase {

    @BeforeEach
    void startSwitch() {
        Requirements.check("arping");
        start();
    }

    private JsonNode iperf(Host client, Host server, String... extra) {
        try (BackgroundProcess s = ns.iperf3Server(server.netns(), server.ip())) {
            sleep(300);
            String[] cmd = new String[6 + extra.length];
            System.arraycopy(new String[] {"iperf3", "-c", server.ip(), "-J", "-t", "3"}, 0, cmd, 0, 6);
            System.arraycopy(extra, 0, cmd, 6, extra.length);
            ExecResult r = ns.exec(client.netns(), Duration.ofSeconds(30), cmd);
            assertEquals(0, r.exitCode(), r::describe);
            return JSON.readTree(r.stdout());
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void tcpCrossesTheSwitchAsSuperFrames() {
        Host a = host("a", "198.18.0.1/24");
        Host b = host("b", "198.18.0.2/24");
        JsonNode result = iperf(a, b);
        double bits = result.path("end").path("sum_received").path("bits_per_second").asDouble();
        assertTrue(bits > 0, result::toString);
        JsonNode in = port(a.port());
        assertTrue(in.path("rxGsoFrames").asLong() > 0, () -> "no TSO super-frames seen: " + in);
        assertEquals(0, port(b.port()).path("txSegmented").asLong(), "TAP to TAP passes super-frames through");
        assertFramesAccountedFor(a, b);
    }

    /**
     * Every frame A received was either dropped with a counted reason or sent to B. Read from one
     * {@code show} so both counters are from the same moment, and retried briefly for frames still in
     * flight inside the switch.
     */
    private void assertFramesAccountedFor(Host a, Host b) {
        long unaccounted = 0;
        for (int attempt = 0; attempt < 20; attempt++) {
            JsonNode in = null;
            JsonNode out = null;
            for (JsonNode p : json("show").path("ports")) {
                if (p.path("name").asText().equals(a.port())) {
                    in = p;
                } else if (p.path("name").asText().equals(b.port())) {
                    out = p;
                }
            }
            unaccounted = in.path("rxPackets").asLong() - dropTotal(in) - out.path("txPackets").asLong() - dropTotal(out);
            if (unaccounted == 0) {
                return;
            }
            sleep(150);
        }
        assertEquals(0, unaccounted, "frames from A neither sent to B nor counted as dropped");
    }

    private static long dropTotal(JsonNode port) {
        long sum = 0;
        for (JsonNode n : port.path("drops")) {
            sum += n.asLong();
        }
        return sum;
    }

    @Test
    void udpWithSmallPacketsIsCountedEndToEnd() {
        Host a = host("a", "198.18.0.1/24");
        Host b = host("b", "198.18.0.2/24");
        JsonNode result = iperf(a, b, "-u", "-l", "18", "-b", "20M");
        JsonNode sum = result.path("end").path("sum");
        long sent = sum.path("packets").asLong();
        long lost = sum.path("lost_packets").asLong();
        assertTrue(sent > 1000, result::toString);
        long received = sent - lost;
        assertTrue(received > 0);
        long switched = port(b.port()).path("txPackets").asLong();
        assertTrue(switched >= received, "the switch sent B at least what iperf3 received: " + switched + " < " + received);
        JsonNode drops = port(a.port()).path("drops");
        assertTrue(port(a.port()).path("rxPackets").asLong() >= received, drops::toString);
    }

    @Test
    void multiQueuePortsSteerRepliesWithTheFlowTable() {
        Host a = host("a", "198.18.0.1/24", "--queues", "2");
        Host b = host("b", "198.18.0.2/24", "--queues", "2");
        JsonNode result = iperf(a, b, "-P", "4");
        assertTrue(result.path("end").path("sum_received").path("bits_per_second").asDouble() > 0);
        JsonNode flows = json("flows", "--port", b.port());
        assertTrue(flows.size() >= 1, () -> "no flows recorded on " + b.port() + ": " + flows);
        JsonNode stats = json("stats", a.port()).get(0).path("queues");
        assertEquals(2, stats.size());
    }
}
