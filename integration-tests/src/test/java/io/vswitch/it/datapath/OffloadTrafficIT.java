package io.vswitch.it.datapath;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.vswitch.it.harness.BackgroundProcess;
import io.vswitch.it.harness.ExecResult;
import java.io.IOException;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** iperf3 through the switch: TCP as TSO super-frames, UDP with small packets, multi-queue steering. */
class OffloadTrafficIT extends SwitchTestBase {

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
        assertEquals(in.path("rxPackets").asLong() - in.path("drops").path("same-port").asLong(0),
                port(b.port()).path("txPackets").asLong(), "everything from A reached B");
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
