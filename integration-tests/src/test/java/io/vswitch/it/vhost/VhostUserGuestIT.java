package io.vswitch.it.vhost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.vswitch.it.harness.BackgroundProcess;
import io.vswitch.it.harness.ExecResult;
import io.vswitch.it.harness.PingResult;
import io.vswitch.it.harness.SwitchProcess;
import io.vswitch.it.harness.SwitchTestBase;
import io.vswitch.it.vm.FileChecksums;
import io.vswitch.it.vm.Guest;
import io.vswitch.it.vm.GuestImage;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Real QEMU 7.2 guests (TCG, memfd shared memory, {@code vectors=0}) on vhost-user ports of a running
 * switch, booted with exactly the arguments {@code show} prints for the port, talking to network
 * namespaces on TAP ports. One guest boot serves many checks, since TCG boots are slow.
 */
class VhostUserGuestIT extends SwitchTestBase {
    private static final Duration BOOT = Duration.ofSeconds(180);
    private static final Duration TRANSFER = Duration.ofSeconds(180);
    private static final Duration SHORT = Duration.ofSeconds(30);
    private static final int FILE_BYTES = 8 << 20;
    /** How long traffic may take to come back after the switch restarts (the JVM start included). */
    private static final Duration RESUME = Duration.ofSeconds(15);

    private final List<Guest> guests = new ArrayList<>();

    @Test
    void aGuestPingsMovesFilesWithOffloadsAndKeepsItsNetworkAcrossSwitchRestarts() throws Exception {
        GuestImage.get(); // skips (or fails under VSWITCH_IT_REQUIRED=1) without QEMU and the guest kernel
        Path state = tempDir("vhost-state");
        start(SwitchProcess.builder().stateDir(state).logFile(logFile("vhost-first")));
        Host a = host("a", "198.18.40.1/24");
        String vm = ns.linkName("v");
        Path socket = state.resolve("vh-" + vm + ".sock");
        cli("add-port", vm, "--type", "vhost-user", "--path", socket.toString());
        assertEquals("down", port(vm).path("link").asText(), "no guest yet");
        Guest g = boot(vm, "198.18.40.10/24", "52:54:00:28:00:10", 1);
        g.awaitReady(BOOT);
        awaitPort(vm, p -> p.path("link").asText().equals("up"), "the port's link to come up");

        // Ping both ways.
        String guestPing = g.run("ping -c 3 -w 20 " + a.ip(), SHORT);
        assertTrue(guestPing.contains("3 packets received"), () -> "guest -> namespace ping: " + guestPing);
        PingResult back = ns.ping(a.netns(), g.ip, 3);
        assertTrue(back.allReceived(), () -> "namespace -> guest ping: " + back);

        // Namespace -> guest: TSO super-frames from the TAP reach the guest whole (it took GUEST_TSO4).
        JsonNode vmBefore = port(vm);
        JsonNode tapBefore = port(a.port());
        assertTrue(vmBefore.path("offloads").asText().contains("tso4"), vmBefore::toString);
        Path file = state.resolve("to-guest.bin");
        String sent = FileChecksums.writeRandom(file, FILE_BYTES, 1);
        g.run("sleep 600 | nc -l -p 5001 > /tmp/rx &", SHORT);
        awaitGuestListening(g, 5001);
        ExecResult push = ns.exec(a.netns(), TRANSFER, "sh", "-c", "busybox nc " + g.ip + " 5001 < " + file);
        assertEquals(0, push.exitCode(), push::describe);
        String received = awaitGuestFile(g, "/tmp/rx", FILE_BYTES);
        assertEquals(sent, received, "the guest got the namespace's file intact");
        JsonNode vmAfter = port(vm);
        JsonNode tapAfter = port(a.port());
        assertTrue(tapAfter.path("rxGsoFrames").asLong() > tapBefore.path("rxGsoFrames").asLong(),
                () -> "the namespace sent TSO super-frames: " + tapAfter);
        assertEquals(0, vmAfter.path("txSegmented").asLong(), () -> "nothing was segmented for the guest: " + vmAfter);
        assertTrue(vmAfter.path("txBytes").asLong() - vmBefore.path("txBytes").asLong() > FILE_BYTES,
                () -> "the file went out of the vhost-user port: " + vmAfter);
        // The guest was interrupted for its received frames, at most once per frame (once per batch, and
        // only when its used_event asked).
        long interrupts = notifications(vmAfter) - notifications(vmBefore);
        long delivered = vmAfter.path("txPackets").asLong() - vmBefore.path("txPackets").asLong();
        assertTrue(interrupts > 0 && interrupts <= delivered,
                () -> interrupts + " interrupts for " + delivered + " frames delivered: " + vmAfter);
        g.run("rm -f /tmp/rx; killall sleep nc 2>/dev/null; true", SHORT);

        // Guest -> namespace: the guest's own TSO super-frames arrive whole (counted as received GSO).
        String made = FileChecksums.md5Of(g.run("dd if=/dev/urandom of=/tmp/tx bs=65536 count=128 2>/dev/null && md5sum /tmp/tx", SHORT));
        Path out = state.resolve("from-guest.bin");
        BackgroundProcess listener = ns.startBackground(a.netns(), "sh", "-c", "sleep 600 | busybox nc -l -p 5002 > " + out);
        awaitNamespaceListening(a.netns(), 5002, listener);
        long gsoBefore = port(vm).path("rxGsoFrames").asLong();
        g.run("nc " + a.ip() + " 5002 < /tmp/tx", TRANSFER);
        await(SHORT, () -> sizeOf(out) == FILE_BYTES, () -> "the namespace to get " + FILE_BYTES + " bytes, has " + sizeOf(out));
        assertEquals(made, FileChecksums.md5(Files.readAllBytes(out)), "the namespace got the guest's file intact");
        listener.stop();
        JsonNode fromGuest = port(vm);
        assertTrue(fromGuest.path("rxGsoFrames").asLong() > gsoBefore, () -> "the guest sent super-frames: " + fromGuest);
        assertEquals(0, fromGuest.path("vhostEvents").path("bad-message").asLong(), fromGuest::toString);

        // kill -9 of the switch while QEMU keeps running: a new switch reconnects, traffic resumes.
        sw.kill9();
        start(SwitchProcess.builder().stateDir(state).logFile(logFile("vhost-after-kill")));
        long resumed = awaitTraffic(a, g);
        assertTrue(g.isAlive(), "the guest was not restarted");
        System.out.println("traffic resumed " + resumed + " ms after the new switch was ready (kill -9)");

        // A clean stop and start: the same.
        sw.stop();
        start(SwitchProcess.builder().stateDir(state).logFile(logFile("vhost-after-stop")));
        resumed = awaitTraffic(a, g);
        System.out.println("traffic resumed " + resumed + " ms after the new switch was ready (clean stop)");
        assertTrue(g.run("ping -c 2 -w 20 " + a.ip(), SHORT).contains("2 packets received"));

        // QEMU killed: the port goes down and counts it; QEMU restarted: the port comes back.
        g.kill();
        JsonNode down = awaitPort(vm, p -> p.path("link").asText().equals("down"), "the port to go down");
        await(SHORT, () -> port(vm).path("vhostEvents").path("disconnected").asLong() >= 1,
                () -> "the disconnect to be counted: " + port(vm));
        assertTrue(down.path("linkLosses").asLong() >= 0);
        Guest again = boot(vm, "198.18.40.10/24", "52:54:00:28:00:10", 1);
        again.awaitReady(BOOT);
        awaitPort(vm, p -> p.path("link").asText().equals("up"), "the restarted guest's link");
        assertTrue(again.run("ping -c 3 -w 20 " + a.ip(), SHORT).contains("3 packets received"));
        assertTrue(sw.isAlive());
    }

    @Test
    void twoGuestsTalkAndAMultiQueueGuestSpreadsFlowsOverItsQueues() throws Exception {
        GuestImage.get(); // skips (or fails under VSWITCH_IT_REQUIRED=1) without QEMU and the guest kernel
        Path state = tempDir("vhost-mq");
        int metrics = freePort();
        start(SwitchProcess.builder().stateDir(state).logFile(logFile("vhost-mq")).args("--metrics", "127.0.0.1:" + metrics));
        Host a = host("a", "198.18.41.1/24");
        String one = ns.linkName("p");
        String two = ns.linkName("q");
        cli("add-port", one, "--type", "vhost-user", "--path", state.resolve("vh-p.sock").toString());
        cli("add-port", two, "--type", "vhost-user", "--path", state.resolve("vh-q.sock").toString(), "--queues", "2");
        Guest g1 = boot(one, "198.18.41.10/24", "52:54:00:29:00:10", 1);
        Guest g2 = boot(two, "198.18.41.11/24", "52:54:00:29:00:11", 2);
        g1.awaitReady(BOOT);
        g2.awaitReady(BOOT);
        awaitPort(one, p -> p.path("link").asText().equals("up"), "guest 1's link");
        awaitPort(two, p -> p.path("link").asText().equals("up"), "guest 2's link");

        // Guest to guest, both ways.
        assertTrue(g1.run("ping -c 3 -w 20 " + g2.ip, SHORT).contains("3 packets received"));
        assertTrue(g2.run("ping -c 3 -w 20 " + g1.ip, SHORT).contains("3 packets received"));
        g2.run("sleep 600 | nc -l -p 5003 > /tmp/rx &", SHORT);
        awaitGuestListening(g2, 5003);
        String made = FileChecksums.md5Of(g1.run("dd if=/dev/urandom of=/tmp/tx bs=65536 count=64 2>/dev/null && md5sum /tmp/tx", SHORT));
        g1.run("nc " + g2.ip + " 5003 < /tmp/tx", TRANSFER);
        assertEquals(made, awaitGuestFile(g2, "/tmp/rx", 64 * 65536), "guest 2 got guest 1's file intact");

        // Many flows from the namespace into the two-queue guest: both of its queues carry traffic.
        JsonNode mq = port(two);
        assertEquals(2, mq.path("queues").asInt());
        assertEquals(4, mq.path("rings").size(), mq::toString);
        g2.run("for p in 6001 6002 6003 6004 6005 6006 6007 6008; do sleep 600 | nc -l -p $p > /dev/null & done", SHORT);
        awaitGuestListening(g2, 6008);
        for (int p = 6001; p <= 6008; p++) {
            ExecResult r = ns.exec(a.netns(), TRANSFER, "sh", "-c",
                    "dd if=/dev/zero bs=65536 count=16 2>/dev/null | busybox nc " + g2.ip + " " + p);
            assertEquals(0, r.exitCode(), r::describe);
        }
        JsonNode spread = port(two);
        JsonNode queues = spread.path("queueCounters");
        assertEquals(2, queues.size(), spread::toString);
        for (int q = 0; q < 2; q++) {
            int queue = q;
            assertTrue(queues.get(q).path("rxPackets").asLong() > 0, () -> "guest 2 sent on queue " + queue + ": " + spread);
            assertTrue(queues.get(q).path("txPackets").asLong() > 0, () -> "guest 2 received on queue " + queue + ": " + spread);
        }

        // The interrupts sent to guest 2 per queue pair and ring, as `show` has them, are in the metrics too.
        String text = scrape(metrics);
        for (int q = 0; q < 2; q++) {
            long shown = queues.get(q).path("guestRxNotifications").asLong(-1);
            long scraped = sample(text, "vswitch_vhost_guest_notifications_total{port=\"" + two + "\",queue=\"" + q + "\",ring=\"rx\"}");
            assertTrue(shown > 0 && scraped >= shown, "rx interrupts of queue " + q + ": show " + shown + ", metrics " + scraped);
            assertTrue(sample(text, "vswitch_vhost_guest_notifications_total{port=\"" + two + "\",queue=\"" + q + "\",ring=\"tx\"}") >= 0);
        }
    }

    // ---- helpers ----

    /** Boots a guest with the QEMU arguments the switch prints for the port (plus its MAC). */
    private Guest boot(String vhostPort, String cidr, String mac, int cpus) throws IOException {
        String qemu = port(vhostPort).path("qemu").asText();
        assertTrue(qemu.contains("memory-backend-memfd") && qemu.contains("vectors=0"), () -> "show prints the QEMU arguments: " + qemu);
        List<String> args = new ArrayList<>(Arrays.asList(qemu.split(" ")));
        int device = args.lastIndexOf("-device");
        args.set(device + 1, args.get(device + 1) + ",mac=" + mac + ",romfile=");
        Guest g = Guest.boot(GuestImage.get(), vhostPort + "-" + guests.size(), cidr, cpus, args);
        guests.add(g);
        onCleanup(g::close);
        return g;
    }

    /** Waits until the namespace and the guest ping each other again; returns how long that took (ms). */
    private long awaitTraffic(Host a, Guest g) {
        long start = System.nanoTime();
        configure(a.netns(), a.port(), a.ip() + "/24");
        long deadline = start + RESUME.toNanos();
        while (!ns.ping(a.netns(), g.ip, 1).allReceived()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no traffic " + RESUME + " after the switch came back: " + sw.outputTail());
            }
        }
        return (System.nanoTime() - start) / 1_000_000;
    }

    private String awaitGuestFile(Guest g, String path, long bytes) {
        g.run("i=0; while [ \"$(wc -c < " + path + ")\" -lt " + bytes + " ]; do i=$((i+1)); [ $i -gt 600 ] && break; sleep 0.1; done", TRANSFER);
        return FileChecksums.md5Of(g.run("md5sum " + path, SHORT));
    }

    /** A port nothing listens on right now, for --metrics. */
    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private static String scrape(int port) throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
                .timeout(SHORT).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode());
        return r.body();
    }

    /** The value of the one sample written exactly as {@code series}. */
    private static long sample(String text, String series) {
        Matcher m = Pattern.compile("^" + Pattern.quote(series) + " (\\S+)$", Pattern.MULTILINE).matcher(text);
        assertTrue(m.find(), () -> "no " + series + " in:\n" + text);
        return (long) Double.parseDouble(m.group(1));
    }

    private static long notifications(JsonNode vhostPort) {
        return vhostPort.path("queueCounters").get(0).path("guestRxNotifications").asLong(-1);
    }

    private void awaitGuestListening(Guest g, int port) {
        g.run("i=0; while ! netstat -ltn | grep -q ':" + port + " '; do i=$((i+1)); [ $i -gt 200 ] && break; sleep 0.05; done;"
                + " netstat -ltn | grep -q ':" + port + " '", SHORT);
    }

    private void awaitNamespaceListening(String netns, int port, BackgroundProcess p) {
        await(SHORT, () -> ns.exec(netns, "ss", "-Hltn", "sport = :" + port).stdout().contains(":" + port) || !p.isAlive(),
                () -> "a listener on " + port);
        assertTrue(p.isAlive(), p::output);
    }

    private JsonNode awaitPort(String name, Predicate<JsonNode> condition, String what) {
        long deadline = System.nanoTime() + SHORT.toNanos();
        JsonNode p = port(name);
        while (!condition.test(p)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what + ": " + p + "\n" + sw.outputTail());
            }
            sleep(100);
            p = port(name);
        }
        return p;
    }

    private static long sizeOf(Path file) {
        try {
            return Files.exists(file) ? Files.size(file) : 0;
        } catch (IOException e) {
            return 0;
        }
    }
}
