package io.vswitch.it.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vswitch.it.harness.BackgroundProcess;
import io.vswitch.it.harness.ExecResult;
import io.vswitch.it.harness.Namespaces;
import io.vswitch.it.harness.PingResult;
import io.vswitch.it.harness.Requirements;
import io.vswitch.it.harness.SwitchProcess;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Real QEMU guests on VM ports of a running switch (a separate {@code ./vswitch daemon} process): a
 * Debian kernel with a busybox userspace boots under TCG with its virtio-net NIC on the
 * {@code -netdev} value that {@code show --json} prints for the port, and talks to network namespaces
 * on TAP ports of the same switch.
 *
 * <p>Bulk TCP from a namespace leaves its TAP as TSO super-frames (the switch negotiates TSO on its
 * TAPs), and a VM port takes no offloads, so that direction crosses software segmentation: the tests
 * check the VM port's {@code txSegmented} counter and the file's MD5 on both ends.
 */
class VmGuestIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration BOOT = Duration.ofSeconds(150);
    private static final Duration TRANSFER = Duration.ofSeconds(180);
    private static final Duration SHORT = Duration.ofSeconds(30);
    private static final int TO_GUEST_BYTES = 8 << 20;
    private static final int FROM_GUEST_BLOCKS = 64; // x 64 KiB = 4 MiB

    private GuestImage image;
    private Namespaces ns;
    private SwitchProcess sw;
    private final List<Guest> guests = new ArrayList<>();

    /** A namespace on a TAP port of the switch. */
    record Host(String netns, String port, String ip) {
    }

    @BeforeEach
    void start() {
        Requirements.check();
        image = GuestImage.get();
        ns = new Namespaces();
        sw = SwitchProcess.start();
    }

    @AfterEach
    void stop() {
        try {
            for (Guest g : guests) {
                g.close();
            }
        } finally {
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
    }

    // ---- the tests ----

    @Test
    void aGuestOnAStreamPortPingsAndMovesFilesBothWays() throws Exception {
        talksToANamespace("vm-stream");
    }

    @Test
    void aGuestOnADatagramPortPingsAndMovesFilesBothWays() throws Exception {
        talksToANamespace("vm-dgram");
    }

    private void talksToANamespace(String type) throws Exception {
        Host a = host("a", "198.18.0.1/24");
        String vm = vmPort(type, "v");
        assertEquals("down", port(vm).path("link").asText(), "no guest yet");
        Guest g = boot(vm, "198.18.0.10/24", "52:54:00:12:00:10");
        g.awaitReady(BOOT);
        awaitPort(vm, p -> p.path("link").asText().equals("up"), "the port's link to come up");

        // Ping both ways.
        String guestPing = g.run("ping -c 3 -w 20 " + a.ip(), SHORT);
        assertTrue(guestPing.contains("3 packets received"), () -> "guest -> namespace ping: " + guestPing);
        PingResult back = ns.ping(a.netns(), g.ip, 3);
        assertTrue(back.allReceived(), () -> "namespace -> guest ping: " + back);

        // Namespace -> guest: large TCP writes leave the TAP as TSO super-frames and are cut in software.
        JsonNode vmBefore = port(vm);
        JsonNode tapBefore = port(a.port());
        Path file = sw.stateDir().resolve("to-guest.bin");
        String sent = FileChecksums.writeRandom(file, TO_GUEST_BYTES, 1);
        g.run("sleep 600 | nc -l -p 5001 > /tmp/rx &", SHORT);
        awaitGuestListening(g, 5001);
        ExecResult push = ns.exec(a.netns(), TRANSFER, "sh", "-c", "busybox nc " + g.ip + " 5001 < " + file);
        assertEquals(0, push.exitCode(), push::describe);
        String received = FileChecksums.md5Of(g.run("md5sum /tmp/rx", SHORT));
        assertEquals(sent, received, "the guest got the namespace's file intact");
        JsonNode vmAfter = port(vm);
        JsonNode tapAfter = port(a.port());
        assertTrue(tapAfter.path("rxGsoFrames").asLong() > tapBefore.path("rxGsoFrames").asLong(),
                () -> "the namespace sent TSO super-frames: " + tapAfter);
        assertTrue(vmAfter.path("txSegmented").asLong() > vmBefore.path("txSegmented").asLong(),
                () -> "super-frames to the guest were segmented in software: " + vmAfter);
        assertTrue(vmAfter.path("txBytes").asLong() - vmBefore.path("txBytes").asLong() > TO_GUEST_BYTES,
                () -> "the file went out of the VM port: " + vmAfter);
        g.run("rm -f /tmp/rx; killall sleep nc 2>/dev/null; true", SHORT);

        // Guest -> namespace.
        String made = FileChecksums.md5Of(g.run("dd if=/dev/urandom of=/tmp/tx bs=65536 count=" + FROM_GUEST_BLOCKS
                + " 2>/dev/null && md5sum /tmp/tx", SHORT));
        Path out = sw.stateDir().resolve("from-guest.bin");
        BackgroundProcess listener = ns.startBackground(a.netns(), "sh", "-c", "sleep 600 | busybox nc -l -p 5002 > " + out);
        awaitNamespaceListening(a.netns(), 5002, listener);
        g.run("nc " + a.ip() + " 5002 < /tmp/tx", TRANSFER);
        assertEquals(made, FileChecksums.md5(Files.readAllBytes(out)), "the namespace got the guest's file intact");
        assertEquals((long) FROM_GUEST_BLOCKS * 65536, Files.size(out));
        listener.stop();

        JsonNode end = port(vm);
        assertEquals("up", end.path("link").asText());
        JsonNode events = end.path("vmEvents");
        if (type.equals("vm-stream")) {
            assertEquals(1, events.path("connected").asLong(), events::toString);
            assertTrue(end.path("guestPid").asLong() == g.pid(), () -> "the port knows QEMU's pid: " + end);
        } else {
            assertEquals(1, events.path("peer-up").asLong(), events::toString);
            assertEquals(0, events.path("foreign-sender").asLong(), events::toString);
        }
        assertEquals(0, events.path("refused").asLong() + events.path("stalled").asLong()
                + events.path("oversize-length").asLong() + events.path("zero-length").asLong(), events::toString);
    }

    @Test
    void aGuestKilledMidTransferLeavesTheOtherPortsAloneAndARestartTakesThePortBack() throws Exception {
        Host a = host("a", "198.18.0.1/24");
        Host b = host("b", "198.18.0.2/24");
        String streamPort = vmPort("vm-stream", "s");
        String dgramPort = vmPort("vm-dgram", "d");
        Guest gs = boot(streamPort, "198.18.0.10/24", "52:54:00:12:00:10");
        Guest gd = boot(dgramPort, "198.18.0.11/24", "52:54:00:12:00:11");
        gs.awaitReady(BOOT);
        gd.awaitReady(BOOT);
        awaitPort(streamPort, p -> p.path("link").asText().equals("up"), "the stream port's link");
        awaitPort(dgramPort, p -> p.path("link").asText().equals("up"), "the datagram port's link");
        assertTrue(gd.run("ping -c 2 -w 20 " + a.ip(), SHORT).contains("2 packets received"));

        // A long transfer from A into the stream guest...
        gs.run("sleep 600 | nc -l -p 5001 > /dev/null &", SHORT);
        awaitGuestListening(gs, 5001);
        ns.startBackground(a.netns(), "sh", "-c",
                "dd if=/dev/zero bs=65536 count=100000 2>/dev/null | busybox nc " + gs.ip + " 5001");
        long startTx = port(streamPort).path("txPackets").asLong();
        awaitPort(streamPort, p -> p.path("txPackets").asLong() > startTx + 2000, "the transfer to get going");

        // ...and TCP between A and B across the moment both guests die.
        try (BackgroundProcess server = ns.iperf3Server(a.netns(), a.ip())) {
            CompletableFuture<ExecResult> iperf = CompletableFuture.supplyAsync(() ->
                    ns.exec(b.netns(), Duration.ofSeconds(60), "iperf3", "-c", a.ip(), "-J", "-t", "4", "-i", "1"));
            Thread.sleep(1500);
            gs.kill();
            gd.kill();
            ExecResult r = iperf.get();
            assertEquals(0, r.exitCode(), r::describe);
            JsonNode result = JSON.readTree(r.stdout());
            for (JsonNode interval : result.path("intervals")) {
                double bps = interval.path("sum").path("bits_per_second").asDouble();
                assertTrue(bps > 1e6, () -> "A <-> B kept flowing in every second: " + result.path("intervals"));
            }
        }
        PingResult after = ns.ping(b.netns(), a.ip(), 10, 0.1);
        assertTrue(after.allReceived(), () -> "A <-> B after the kills: " + after);
        assertTrue(sw.isAlive(), "the switch survived");

        JsonNode stream = awaitPort(streamPort, p -> p.path("link").asText().equals("down"), "the stream port to go down");
        assertEquals(1, stream.path("vmEvents").path("peer-closed").asLong(), stream::toString);
        JsonNode dgram = awaitPort(dgramPort, p -> p.path("link").asText().equals("down"), "the datagram port to go down");
        assertEquals(1, dgram.path("vmEvents").path("peer-down").asLong(), dgram::toString);

        // The VM restarts on the same port and takes it back.
        Guest again = boot(streamPort, "198.18.0.10/24", "52:54:00:12:00:10");
        again.awaitReady(BOOT);
        JsonNode back = awaitPort(streamPort, p -> p.path("link").asText().equals("up"), "the restarted guest to connect");
        assertEquals(2, back.path("vmEvents").path("connected").asLong(), back::toString);
        assertEquals(0, back.path("vmEvents").path("refused").asLong(), back::toString);
        assertTrue(again.run("ping -c 3 -w 20 " + b.ip(), SHORT).contains("3 packets received"));
    }

    // ---- helpers ----

    private Host host(String role, String cidr) {
        String netns = ns.create(role);
        ns.exec(netns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1").orThrow();
        ns.exec(netns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1").orThrow();
        String port = ns.linkName(role);
        cli("add-port", port, "--type", "tap", "--netns", netns);
        ns.addAddress(netns, port, cidr);
        ns.linkUp(netns, port);
        return new Host(netns, port, cidr.substring(0, cidr.indexOf('/')));
    }

    /** Adds a VM port whose socket(s) live in the switch's state dir; returns its name. */
    private String vmPort(String type, String role) {
        String name = ns.linkName(role);
        Path path = sw.stateDir().resolve("vm-" + role + ".sock"); // s.sock is the control socket
        if (type.equals("vm-dgram")) {
            cli("add-port", name, "--type", type, "--path", path.toString(),
                    "--peer", sw.stateDir().resolve("qemu-" + role + ".sock").toString());
        } else {
            cli("add-port", name, "--type", type, "--path", path.toString());
        }
        return name;
    }

    /** Boots a guest on the port, with the exact -netdev value the switch prints for it. */
    private Guest boot(String vmPort, String cidr, String mac) throws IOException {
        String netdev = port(vmPort).path("qemu").asText();
        assertTrue(!netdev.isEmpty(), "show prints a qemu -netdev value for " + vmPort);
        Guest g = Guest.boot(image, vmPort + "-" + guests.size(), cidr, mac, netdev);
        guests.add(g);
        return g;
    }

    private void awaitGuestListening(Guest g, int port) {
        g.run("i=0; while ! netstat -ltn | grep -q ':" + port + " '; do i=$((i+1)); [ $i -gt 200 ] && break; sleep 0.05; done;"
                + " netstat -ltn | grep -q ':" + port + " '", SHORT);
    }

    private void awaitNamespaceListening(String netns, int port, BackgroundProcess p) {
        long deadline = System.nanoTime() + SHORT.toNanos();
        while (!ns.exec(netns, "ss", "-Hltn", "sport = :" + port).stdout().contains(":" + port)) {
            if (!p.isAlive() || System.nanoTime() > deadline) {
                throw new AssertionError("nothing listens on " + port + " in " + netns + ": " + p.output());
            }
            sleep(50);
        }
    }

    private ExecResult cli(String... args) {
        ExecResult r = sw.cli(args);
        assertTrue(r.ok(), () -> "vswitch " + String.join(" ", args) + " failed: " + r.describe() + "\n" + sw.outputTail());
        return r;
    }

    private JsonNode port(String name) {
        try {
            for (JsonNode p : JSON.readTree(cli("show", "--json").stdout()).path("ports")) {
                if (p.path("name").asText().equals(name)) {
                    return p;
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        throw new AssertionError("port " + name + " not in show");
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

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
