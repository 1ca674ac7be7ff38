package io.vswitch.it.control;

import io.vswitch.it.harness.SwitchTestBase;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.it.harness.BackgroundProcess;
import io.vswitch.it.harness.Exec;
import io.vswitch.it.harness.ExecResult;
import io.vswitch.it.harness.Requirements;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** {@code vswitch capture}: a pcap file tcpdump reads back, and the line-per-frame mode. */
class CaptureIT extends SwitchTestBase {

    @Test
    void pcapOfAPingThroughTheSwitchReadsBackWithTcpdump() throws Exception {
        Requirements.check("tcpdump");
        start();
        Host a = host("a", "198.18.7.1/24");
        Host b = host("b", "198.18.7.2/24");
        assertTrue(ns.ping(a.netns(), b.ip(), 1).allReceived(), "warm-up: ARP resolved before the capture");

        Path dir = tempDir("pcap");
        Path pcap = dir.resolve("b.pcap");
        Process capture = startClient(dir, "capture", "--socket", sw.socket().toString(), "capture", b.port(),
                "-w", pcap.toString(), "-c", "4");
        onCleanup(() -> kill(capture));
        // the file gets its 24-byte header once the daemon has attached the capture to the port
        await(Duration.ofSeconds(30), () -> Files.exists(pcap) && sizeOf(pcap) >= 24,
                () -> "capture did not start: " + read(dir.resolve("capture.err")));
        assertTrue(ns.ping(a.netns(), b.ip(), 2).allReceived());

        assertTrue(capture.waitFor(30, TimeUnit.SECONDS), "capture -c 4 did not end: " + read(dir.resolve("capture.err")));
        assertEquals(0, capture.exitValue(), read(dir.resolve("capture.err")));
        assertEquals("4 frames written to " + pcap, read(dir.resolve("capture.err")).trim());

        ExecResult r = Exec.run("tcpdump", "-r", pcap.toString(), "-n");
        assertTrue(r.ok(), r::describe);
        List<String> lines = r.stdout().lines().toList();
        assertEquals(4, lines.size(), r::describe);
        assertTrue(lines.stream().anyMatch(l -> l.contains("IP " + a.ip() + " > " + b.ip() + ": ICMP echo request")), r::describe);
        assertTrue(lines.stream().anyMatch(l -> l.contains("IP " + b.ip() + " > " + a.ip() + ": ICMP echo reply")), r::describe);
        ExecResult ether = Exec.run("tcpdump", "-r", pcap.toString(), "-n", "-e", "icmp");
        assertTrue(ether.stdout().contains(a.mac() + " > " + b.mac()), ether::describe);
        assertTrue(ether.stderr().contains("link-type EN10MB (Ethernet)"), ether::describe);
    }

    @Test
    void lineModePrintsOneLinePerFrame() throws Exception {
        start();
        Host a = host("a", "198.18.8.1/24");
        Host b = host("b", "198.18.8.2/24");
        assertTrue(ns.ping(a.netns(), b.ip(), 1).allReceived());

        Path dir = tempDir("lines");
        Process capture = startClient(dir, "capture", "--socket", sw.socket().toString(), "capture", a.port(), "-c", "6");
        onCleanup(() -> kill(capture));
        // no sign of when it is attached: keep pinging until it has its frames
        BackgroundProcess ping = ns.startBackground(a.netns(), "ping", "-n", "-i", "0.2", "-c", "300", b.ip());
        try {
            assertTrue(capture.waitFor(60, TimeUnit.SECONDS), "capture -c 6 did not end: " + read(dir.resolve("capture.err")));
        } finally {
            ping.stop();
        }
        assertEquals(0, capture.exitValue(), read(dir.resolve("capture.err")));
        List<String> lines = read(dir.resolve("capture.out")).lines().toList();
        assertEquals(6, lines.size(), lines::toString);
        String time = "\\d{2}:\\d{2}:\\d{2}(\\.\\d+)? ";
        assertTrue(lines.stream().anyMatch(l -> l.matches(time + a.mac() + " > " + b.mac() + " IPv4 " + a.ip() + " > " + b.ip()
                + " ICMP echo request, length 98")), lines::toString);
        assertTrue(lines.stream().anyMatch(l -> l.matches(time + b.mac() + " > " + a.mac() + " IPv4 " + b.ip() + " > " + a.ip()
                + " ICMP echo reply, length 98")), lines::toString);
    }

    private static long sizeOf(Path p) {
        try {
            return Files.size(p);
        } catch (java.io.IOException e) {
            return -1;
        }
    }
}
