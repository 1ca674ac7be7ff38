package io.vswitch.vm.vhost;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.frame.DropReason;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.frame.VnetHeader;
import io.vswitch.core.port.FrameSink;
import io.vswitch.core.port.Offloads;
import io.vswitch.core.port.PortQueue;
import io.vswitch.linux.DirectAddress;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A vhost-user port against {@link FakeGuest}: real sockets, memfd memory and eventfds, the protocol
 * in QEMU 7.2's order, frames through the split rings both ways.
 */
class VhostUserPortTest {
    private Path dir;
    private final List<AutoCloseable> open = new ArrayList<>();

    @BeforeEach
    void dir() throws IOException {
        dir = Files.createTempDirectory("vswvhost-");
    }

    @AfterEach
    void clean() throws Exception {
        for (int i = open.size() - 1; i >= 0; i--) {
            open.get(i).close();
        }
        try (var files = Files.list(dir)) {
            for (Path p : files.toList()) {
                Files.deleteIfExists(p);
            }
        }
        Files.deleteIfExists(dir);
    }

    VhostUserPort serverPort(String name, int queues) throws IOException {
        VhostUserPort port = VhostUserPort.open(name, dir.resolve(name + ".sock"), VhostUserPort.Mode.SERVER, queues, null,
                VhostUserPort.SocketAccess.INHERIT);
        open.add(port);
        return port;
    }

    FakeGuest guest(VhostUserPort port) throws Exception {
        FakeGuest g = new FakeGuest(port.socketPath(), port.queueCount());
        open.add(g);
        return g;
    }

    static void until(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(5);
        }
    }

    static byte[] frame(int length, int seed) {
        byte[] f = new byte[length];
        for (int i = 0; i < length; i++) {
            f[i] = (byte) (i * 7 + seed);
        }
        f[0] = 0x02; // unicast destination
        f[6] = 0x02;
        f[12] = 0x08;
        f[13] = 0x00;
        return f;
    }

    /** Receives until {@code count} frames came, copying each; fails after 5 s. */
    static List<Frame> receive(PortQueue q, FrameBatch batch, int count) throws InterruptedException {
        List<Frame> out = new ArrayList<>();
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        while (out.size() < count) {
            int n = q.receive(batch);
            for (int i = 0; i < n; i++) {
                out.add(batch.get(i));
            }
            batch.clear();
            if (n == 0) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("got " + out.size() + " of " + count + " frames");
                }
                Thread.sleep(1);
            }
        }
        return out;
    }

    @Test
    void framesCrossTheRingsBothWaysAfterQemusSetUp() throws Exception {
        VhostUserPort port = serverPort("vh0", 1);
        FakeGuest g = guest(port);
        g.start(FakeGuest.FEATURES);
        until(port::linkUp, "the link");
        assertEquals(Offloads.CSUM | Offloads.TSO4 | Offloads.TSO6 | Offloads.TSO_ECN, port.offloads());

        // Guest TX -> port: the header becomes the frame's offload state, the frame lands after the headroom.
        byte[] header = new byte[VnetHeader.SIZE];
        header[0] = VnetHeader.FLAG_NEEDS_CSUM;
        header[6] = 34; // csum_start
        header[8] = 16; // csum_offset
        byte[] sent = frame(1000, 1);
        g.transmit(1, header, sent);
        PortQueue q = port.queue(0);
        FrameBatch batch = new FrameBatch(FrameBatch.DEFAULT_CAPACITY);
        Frame got = receive(q, batch, 1).get(0);
        assertArrayEquals(sent, got.toBytes());
        assertEquals(FragAllocator.HEADROOM, got.headroom());
        assertTrue(got.needsChecksum());
        assertEquals(34, got.csumStart());
        assertEquals(16, got.csumOffset());
        got.release();
        until(() -> g.usedIndex(1) == 1, "the TX buffer to come back");
        assertTrue(g.calls(1) > 0, "the guest was signalled for its used TX buffer");

        // Port -> guest RX: header + frame in one buffer, num_buffers = 1.
        g.offerRxBuffers(0, 8, 2048);
        Frame out = new Frame();
        FragAllocator allocator = new FragAllocator(DirectAddress.INSTANCE);
        byte[] reply = frame(600, 9);
        allocator.allocate(out, reply.length);
        out.write(reply, 0, reply.length);
        out.setOffload(0, 0, 0, 0, 0, 0);
        assertEquals(FrameSink.SENT, q.transmit(out));
        List<byte[]> used = g.takeUsed(0);
        assertEquals(1, used.size());
        byte[] buffer = used.get(0);
        assertEquals(VnetHeader.SIZE + reply.length, buffer.length);
        assertEquals(1, buffer[10]);
        assertArrayEquals(reply, Arrays.copyOfRange(buffer, VnetHeader.SIZE, buffer.length));
        assertTrue(g.calls(0) > 0);
        out.release();
    }

    @Test
    void aSuperFrameSpreadsOverMergeableBuffersAndNoBufferIsACountedDrop() throws Exception {
        VhostUserPort port = serverPort("vh1", 1);
        FakeGuest g = guest(port);
        g.start(FakeGuest.FEATURES);
        until(port::linkUp, "the link");
        PortQueue q = port.queue(0);

        Frame out = new Frame();
        FragAllocator allocator = new FragAllocator(DirectAddress.INSTANCE);
        byte[] big = frame(20000, 3);
        allocator.allocate(out, big.length);
        out.write(big, 0, big.length);
        out.setOffload(VnetHeader.FLAG_NEEDS_CSUM, VnetHeader.GSO_TCPV4, 54, 1448, 34, 16);
        // Nothing offered yet: dropped, counted, never a wait.
        assertEquals(DropReason.TX_BUSY.ordinal(), q.transmit(out));
        assertEquals(1, port.count(VhostEvent.RX_RING_FULL));
        // Two buffers are not enough either; nothing is published.
        g.offerRxBuffers(0, 2, 4096);
        assertEquals(DropReason.TX_BUSY.ordinal(), q.transmit(out));
        assertEquals(0, g.usedIndex(0));
        g.offerRxBuffers(0, 6, 4096);
        assertEquals(FrameSink.SENT, q.transmit(out));
        List<byte[]> used = g.takeUsed(0);
        assertEquals(5, used.size(), "12 + 20000 bytes in 4096-byte buffers");
        byte[] all = new byte[0];
        for (byte[] b : used) {
            byte[] joined = Arrays.copyOf(all, all.length + b.length);
            System.arraycopy(b, 0, joined, all.length, b.length);
            all = joined;
        }
        assertEquals(5, all[10], "num_buffers");
        assertEquals(VnetHeader.GSO_TCPV4, all[1]);
        assertArrayEquals(big, Arrays.copyOfRange(all, VnetHeader.SIZE, all.length));
        out.release();
    }

    @Test
    void getVringBaseStopsTheRingAndADisconnectResetsEverything() throws Exception {
        VhostUserPort port = serverPort("vh2", 1);
        FakeGuest g = guest(port);
        g.start(FakeGuest.FEATURES);
        until(port::linkUp, "the link");
        PortQueue q = port.queue(0);
        FrameBatch batch = new FrameBatch(FrameBatch.DEFAULT_CAPACITY);
        for (int i = 0; i < 3; i++) {
            g.transmit(1, new byte[VnetHeader.SIZE], frame(100, i));
        }
        for (Frame f : receive(q, batch, 3)) {
            f.release();
        }
        assertEquals(3, g.stopRing(1), "GET_VRING_BASE reports the next avail index");
        g.transmit(1, new byte[VnetHeader.SIZE], frame(100, 4));
        Thread.sleep(50);
        assertEquals(0, q.receive(batch), "a stopped ring is not read");
        g.disconnect();
        until(() -> !port.connected(), "the disconnect");
        assertFalse(port.linkUp());
        assertEquals(1, port.count(VhostEvent.DISCONNECTED));

        // A new front-end (QEMU restarted) starts from scratch and frames flow again.
        FakeGuest again = guest(port);
        again.start(FakeGuest.FEATURES);
        until(port::linkUp, "the link after reconnecting");
        again.transmit(1, new byte[VnetHeader.SIZE], frame(64, 5));
        Frame f = receive(q, batch, 1).get(0);
        assertArrayEquals(frame(64, 5), f.toBytes());
        f.release();
        assertEquals(2, port.count(VhostEvent.CONNECTED));
    }

    @Test
    void unknownRequestsAreAnsweredWithAFailureAndTheConnectionStays() throws Exception {
        VhostUserPort port = serverPort("vh3", 1);
        FakeGuest g = guest(port);
        g.start(FakeGuest.FEATURES);
        until(port::linkUp, "the link");
        long answer = g.requestRaw(33, VhostMessage.VERSION | VhostMessage.FLAG_NEED_REPLY, new long[] {1}, new int[0], true);
        assertEquals(1, answer, "REPLY_ACK failure");
        assertEquals(1, port.count(VhostEvent.UNKNOWN_REQUEST));
        assertTrue(port.connected());
        assertTrue(port.linkUp());
    }

    @Test
    void multiQueueFramesGoToTheQueueTheyAreSentOn() throws Exception {
        VhostUserPort port = serverPort("vh4", 2);
        FakeGuest g = guest(port);
        g.start(FakeGuest.FEATURES);
        // The link is up with the first queue pair; the second may still be being set up, and until
        // it runs, frames for its queue go to queue 0 (as for a guest that enabled fewer queues).
        until(() -> port.ringStates().stream().allMatch("running"::equals), "all four rings running");
        g.offerRxBuffers(0, 4, 2048);
        g.offerRxBuffers(2, 4, 2048);
        Frame out = new Frame();
        FragAllocator allocator = new FragAllocator(DirectAddress.INSTANCE);
        allocator.allocate(out, 100);
        out.write(frame(100, 1), 0, 100);
        out.setOffload(0, 0, 0, 0, 0, 0);
        assertEquals(FrameSink.SENT, port.queue(1).transmit(out));
        assertEquals(0, g.takeUsed(0).size());
        assertEquals(1, g.takeUsed(2).size());
        out.release();

        FrameBatch batch = new FrameBatch(FrameBatch.DEFAULT_CAPACITY);
        g.transmit(3, new byte[VnetHeader.SIZE], frame(80, 2));
        Frame f = receive(port.queue(1), batch, 1).get(0);
        assertArrayEquals(frame(80, 2), f.toBytes());
        f.release();
        assertEquals(0, port.queue(0).receive(batch));
    }

    @Test
    void aServerModeSocketGetsTheRequestedPermissions() throws Exception {
        VhostUserPort port = VhostUserPort.open("vh5", dir.resolve("vh5.sock"), VhostUserPort.Mode.SERVER, 1, null,
                new VhostUserPort.SocketAccess(null, null, "0640"));
        open.add(port);
        assertEquals(java.nio.file.attribute.PosixFilePermissions.fromString("rw-r-----"),
                Files.getPosixFilePermissions(port.socketPath()));
        port.close();
        assertFalse(Files.exists(port.socketPath()), "the socket file goes with the port");
    }

    @Test
    void clientModeRetriesUntilQemuListensAndCountsTheAttempts() throws Exception {
        Path qemuSocket = dir.resolve("qemu.sock");
        VhostUserPort port = VhostUserPort.open("vh6", qemuSocket, VhostUserPort.Mode.CLIENT, 1, null, null);
        open.add(port);
        until(() -> port.count(VhostEvent.CONNECT_FAILED) >= 2, "failed attempts while nobody listens");
        try (java.nio.channels.ServerSocketChannel qemu = java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
            qemu.bind(java.net.UnixDomainSocketAddress.of(qemuSocket));
            try (java.nio.channels.SocketChannel accepted = qemu.accept()) {
                until(port::connected, "the connection");
                assertEquals(1, port.count(VhostEvent.CONNECTED));
            }
            // QEMU closed the connection: counted, and the port goes back to connecting.
            until(() -> port.count(VhostEvent.DISCONNECTED) >= 1, "the disconnect");
        }
        Files.deleteIfExists(qemuSocket);
        long failed = port.count(VhostEvent.CONNECT_FAILED);
        until(() -> port.count(VhostEvent.CONNECT_FAILED) > failed && !port.connected(), "retries once QEMU is gone");
    }
}
