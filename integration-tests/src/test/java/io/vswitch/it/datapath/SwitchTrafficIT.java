package io.vswitch.it.datapath;

import io.vswitch.it.harness.SwitchTestBase;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.vswitch.it.harness.BackgroundProcess;
import io.vswitch.it.harness.PingResult;
import java.time.Duration;
import io.vswitch.it.harness.Requirements;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Learning-bridge behaviour against the real kernel: namespaces on TAP ports of a running switch. */
class SwitchTrafficIT extends SwitchTestBase {

    @BeforeEach
    void startSwitch() {
        Requirements.check("arping");
        start();
    }

    @Test
    void pingsBothWays() {
        Host a = host("a", "198.18.0.1/24");
        Host b = host("b", "198.18.0.2/24", "--queues", "2");
        PingResult ab = ns.ping(a.netns(), b.ip(), 5);
        PingResult ba = ns.ping(b.netns(), a.ip(), 5);
        assertTrue(ab.allReceived(), ab::toString);
        assertTrue(ba.allReceived(), ba::toString);
    }

    @Test
    void arpLearningShowsInTheFdb() {
        Host a = host("a", "198.18.0.1/24");
        Host b = host("b", "198.18.0.2/24");
        assertTrue(ns.arping(a.netns(), a.port(), b.ip(), 2).answered());
        assertTrue(fdb().contains(a.mac() + " " + a.port() + " 0"), () -> fdb().toString());
        assertTrue(fdb().contains(b.mac() + " " + b.port() + " 0"), () -> fdb().toString());
    }

    @Test
    void unknownUnicastFloodsToAThirdNamespaceUntilLearned() {
        Host a = host("a", "198.18.0.1/24");
        Host b = host("b", "198.18.0.2/24");
        Host c = host("c", "198.18.0.3/24");
        // Static neighbours: no ARP broadcasts, so every frame C gets is a flooded unicast.
        ns.exec(a.netns(), "ip", "neigh", "replace", b.ip(), "lladdr", b.mac(), "dev", a.port(), "nud", "permanent").orThrow();
        ns.exec(b.netns(), "ip", "neigh", "replace", a.ip(), "lladdr", a.mac(), "dev", b.port(), "nud", "permanent").orThrow();
        cli("fdb", "flush");
        long before = port(c.port()).path("txPackets").asLong();
        assertTrue(ns.ping(a.netns(), b.ip(), 1).allReceived());
        long flooded = port(c.port()).path("txPackets").asLong() - before;
        assertEquals(1, flooded, "the first echo request, to a not yet learned MAC, is flooded to C");
        assertTrue(ns.ping(a.netns(), b.ip(), 5).allReceived());
        assertEquals(flooded, port(c.port()).path("txPackets").asLong() - before, "once B is learned, nothing more reaches C");
    }

    @Test
    void entriesAgeOutWithAShortAgeingTime() {
        Host a = host("a", "198.18.0.1/24");
        Host b = host("b", "198.18.0.2/24");
        // Learn under the default ageing time, then shorten it: the check that A was learned cannot
        // race the ageing however slow the machine is, and the sweep applies the new time to it.
        assertTrue(ns.arping(a.netns(), a.port(), b.ip(), 1).answered());
        assertTrue(fdb().contains(a.mac() + " " + a.port() + " 0"), () -> "learned: " + fdb());
        cli("set-ageing", "2");
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (!fdb().isEmpty() && System.nanoTime() < deadline) {
            sleep(500);
        }
        assertTrue(fdb().isEmpty(), () -> "still learned after ageing: " + fdb());
        assertTrue(json("show").path("fdb").path("agedOut").asLong() >= 2);
    }

    @Test
    void tapDeletedUnderTrafficTakesOnlyItsPortDown() {
        Host a = host("a", "198.18.0.1/24");
        Host b = host("b", "198.18.0.2/24");
        Host c = host("c", "198.18.0.3/24", "--queues", "2");
        assertTrue(ns.ping(a.netns(), c.ip(), 2).allReceived());
        try (BackgroundProcess flood = ns.startBackground(a.netns(), "ping", "-n", "-q", "-i", "0.01", "-c", "300", b.ip());
                BackgroundProcess toC = ns.startBackground(a.netns(), "ping", "-n", "-q", "-i", "0.01", "-c", "300", c.ip())) {
            sleep(500);
            ns.exec(c.netns(), "ip", "link", "del", c.port()).orThrow();
            assertEquals(0, flood.waitFor(Duration.ofSeconds(30)), flood::output);
            assertTrue(flood.output().contains(" 0% packet loss"), flood::output);
            toC.waitFor(Duration.ofSeconds(30));
        }
        assertTrue(sw.isAlive(), sw::outputTail);
        JsonNode gone = port(c.port());
        assertEquals("down", gone.path("link").asText());
        assertEquals(1, gone.path("linkLosses").asLong());
        assertTrue(sw.output().contains("link gone"), sw::outputTail);
        assertTrue(ns.ping(b.netns(), a.ip(), 3).allReceived(), "the other ports keep forwarding");
        assertFalse(fdb().stream().anyMatch(e -> e.contains(" " + c.port() + " ")), "its addresses are forgotten");
        cli("del-port", c.port());
    }
}
