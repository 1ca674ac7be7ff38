package io.vswitch.it.datapath;

import io.vswitch.it.harness.SwitchTestBase;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
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

    @Test
    void tcpCrossesTheSwitchAsSuperFrames() {
        Host a = host("a", "198.18.0.1/24");
        Host b = host("b", "198.18.0.2/24");
        JsonNode result = iperf3(a, b, 3);
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
        String seen = "";
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
            seen = in + " " + out;
            unaccounted = in.path("rxPackets").asLong() - dropTotal(in) - out.path("txPackets").asLong() - dropTotal(out);
            if (unaccounted == 0) {
                return;
            }
            sleep(150);
        }
        String ports = seen;
        assertEquals(0, unaccounted, () -> "frames from A neither sent to B nor counted as dropped: " + ports);
    }

    /**
     * Frames dropped after they were received. (An allocator at its cap is not among them: it leaves
     * the frame in the kernel's queue and counts {@code rxNoBuffer}, so every drop is a lost frame.)
     */
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
        JsonNode result = iperf3(a, b, 3, "-u", "-l", "18", "-b", "20M");
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

    /**
     * One TCP flow at a time between two 2-queue ports: its data arrives on one queue of A (the
     * kernel picks it), and the flow table must send the replies back to A on that same queue (and
     * likewise on B), which the per-queue counters show. A switch that sprayed replies over queues,
     * or sent them on another queue than the flow came in on, puts a large share of them elsewhere.
     * (The kernel's own tun flow steering then follows whatever queue the switch last used, so an
     * aligned pair is the steady state of correct steering, and spraying keeps them apart.)
     */
    @Test
    void multiQueuePortsSteerRepliesWithTheFlowTable() {
        Host a = host("a", "198.18.0.1/24", "--queues", "2");
        Host b = host("b", "198.18.0.2/24", "--queues", "2");
        for (int run = 0; run < 2; run++) {
            long[][] beforeA = queueCounters(a.port());
            long[][] beforeB = queueCounters(b.port());
            JsonNode result = iperf3(a, b, 3, "-P", "1");
            assertTrue(result.path("end").path("sum_received").path("bits_per_second").asDouble() > 0);
            assertRepliesLeaveOnTheArrivalQueue(a.port(), beforeA, queueCounters(a.port()));
            assertRepliesLeaveOnTheArrivalQueue(b.port(), beforeB, queueCounters(b.port()));
        }
    }

    /** [queue][0 = rxPackets, 1 = txPackets] from {@code stats PORT --json}. */
    private long[][] queueCounters(String port) {
        JsonNode queues = json("stats", port).get(0).path("queues");
        long[][] out = new long[queues.size()][2];
        for (int q = 0; q < out.length; q++) {
            out[q][0] = queues.get(q).path("rxPackets").asLong();
            out[q][1] = queues.get(q).path("txPackets").asLong();
        }
        return out;
    }

    /** The queue that received at least 90 % of the port's frames also sent at least 90 % of its replies. */
    private static void assertRepliesLeaveOnTheArrivalQueue(String port, long[][] before, long[][] after) {
        int queues = after.length;
        assertEquals(2, queues);
        long[] rx = new long[queues];
        long[] tx = new long[queues];
        for (int q = 0; q < queues; q++) {
            rx[q] = after[q][0] - before[q][0];
            tx[q] = after[q][1] - before[q][1];
        }
        long rxTotal = rx[0] + rx[1];
        long txTotal = tx[0] + tx[1];
        String counts = port + " per queue: rx " + rx[0] + "/" + rx[1] + ", tx " + tx[0] + "/" + tx[1];
        assertTrue(rxTotal > 100 && txTotal > 100, counts);
        int arrival = rx[0] >= rx[1] ? 0 : 1;
        assertTrue(rx[arrival] * 10 >= rxTotal * 9, () -> "one flow should arrive on one queue: " + counts);
        assertTrue(tx[arrival] * 10 >= txTotal * 9, () -> "replies must leave on queue " + arrival
                + ", where the flow arrived: " + counts);
    }
}
