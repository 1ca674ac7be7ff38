package io.vswitch.vm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.frame.DropReason;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.port.FrameSink;
import io.vswitch.linux.DirectAddress;
import io.vswitch.vm.VmPort.Event;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import jnr.unixsocket.UnixDatagramChannel;
import jnr.unixsocket.UnixSocketAddress;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link VmDgramPort} against real unix datagram sockets, with a jnr-unixsocket datagram channel bound
 * at the peer path playing QEMU's {@code -netdev dgram} (one frame per datagram).
 */
class VmDgramPortTest {
    private static final Duration WAIT = Duration.ofSeconds(5);
    private static final Duration PROBE = Duration.ofMillis(100);

    @TempDir
    Path dir;
    private Path path;
    private Path peerPath;
    private VmDgramPort port;
    private QueueDriver driver;
    private final List<UnixDatagramChannel> channels = new ArrayList<>();
    private final FragAllocator txAllocator = new FragAllocator(DirectAddress.INSTANCE);

    @BeforeEach
    void open() throws IOException {
        path = dir.resolve("vm.sock");
        peerPath = dir.resolve("qemu.sock");
        port = VmDgramPort.open("vmd", path, peerPath, null, PROBE);
        driver = new QueueDriver(port.queue(0));
    }

    @AfterEach
    void close() throws IOException {
        for (UnixDatagramChannel c : channels) {
            c.close();
        }
        if (driver != null) {
            driver.close();
        }
        if (port != null) {
            port.close();
        }
    }

    private UnixDatagramChannel bind(Path at) throws IOException {
        UnixDatagramChannel ch = UnixDatagramChannel.open();
        channels.add(ch);
        ch.bind(new UnixSocketAddress(at.toFile()));
        return ch;
    }

    /** QEMU's socket, and the port noticing it. */
    private UnixDatagramChannel qemu() throws IOException {
        UnixDatagramChannel ch = bind(peerPath);
        driver.until(port::linkUp, WAIT, "the port to see QEMU's socket");
        return ch;
    }

    private void send(UnixDatagramChannel from, byte[] datagram) throws IOException {
        int n = from.send(ByteBuffer.wrap(datagram), new UnixSocketAddress(path.toFile()));
        assertEquals(datagram.length, n);
    }

    private static byte[] frame(int length, int seed) {
        byte[] f = new byte[length];
        new Random(seed).nextBytes(f);
        f[0] = 0x02;
        return f;
    }

    private Frame txFrame(byte[] bytes) {
        Frame f = new Frame();
        assertTrue(txAllocator.allocate(f, bytes.length));
        f.write(bytes, 0, bytes.length);
        return f;
    }

    private static byte[] receive(UnixDatagramChannel ch) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(65536);
        ch.receive(b);
        b.flip();
        byte[] out = new byte[b.remaining()];
        b.get(out);
        return out;
    }

    @Test
    void framesFromQemuArriveAsFrames() throws IOException {
        UnixDatagramChannel qemu = qemu();
        List<byte[]> sent = new ArrayList<>();
        Random random = new Random(3);
        for (int i = 0; i < 200; i++) {
            byte[] f = frame(14 + random.nextInt(port.maxFrameLength() - 13), i);
            sent.add(f);
            send(qemu, f);
            if (i % 5 == 4) {
                // A unix datagram socket queues only net.unix.max_dgram_qlen (10) datagrams: let the port read.
                int expected = sent.size();
                driver.until(() -> driver.frames.size() == expected, WAIT, "datagrams so far");
            }
        }
        send(qemu, frame(port.maxFrameLength(), 999));
        sent.add(frame(port.maxFrameLength(), 999));
        driver.until(() -> driver.frames.size() == sent.size(), WAIT, "every datagram");
        for (int i = 0; i < sent.size(); i++) {
            assertArrayEquals(sent.get(i), driver.frames.get(i), "frame " + i);
            assertEquals(FragAllocator.HEADROOM, driver.headrooms.get(i));
        }
    }

    @Test
    void datagramsFromAnyoneElseAreDroppedAndCounted() throws IOException {
        // No QEMU yet: the port's socket is not connected, so anyone can reach it, and it filters.
        UnixDatagramChannel intruder = bind(dir.resolve("other.sock"));
        send(intruder, frame(60, 1));
        UnixDatagramChannel unbound = UnixDatagramChannel.open();
        channels.add(unbound);
        send(unbound, frame(60, 2));
        driver.until(() -> port.count(Event.FOREIGN_SENDER) == 2, WAIT, "two foreign datagrams to be dropped");
        assertEquals(0, driver.frames.size());

        UnixDatagramChannel qemu = qemu();
        // Now connected to QEMU: the kernel refuses other senders outright.
        assertThrows(IOException.class, () -> send(intruder, frame(60, 3)));
        byte[] good = frame(60, 4);
        send(qemu, good);
        driver.until(() -> driver.frames.size() == 1, WAIT, "the peer's frame");
        assertArrayEquals(good, driver.frames.get(0));
        assertEquals(2, port.count(Event.FOREIGN_SENDER));
    }

    @Test
    void aRestartedQemuAtTheSamePathIsFollowed() throws IOException {
        UnixDatagramChannel first = qemu();
        first.close();
        Files.delete(peerPath); // QEMU restarts: a new socket at the same path, perhaps within one probe
        UnixDatagramChannel second = bind(peerPath);
        driver.runFor(PROBE.multipliedBy(3));
        assertTrue(port.linkUp());
        byte[] in = frame(80, 5);
        send(second, in);
        driver.until(() -> driver.frames.size() == 1, WAIT, "a frame from the new QEMU");
        assertArrayEquals(in, driver.frames.get(0));
        byte[] out = frame(90, 6);
        Frame f = txFrame(out);
        assertEquals(FrameSink.SENT, port.queue(0).transmit(f));
        f.release();
        assertArrayEquals(out, receive(second));
    }

    @Test
    void oversizeAndEmptyDatagramsAreDroppedAndCounted() throws IOException {
        UnixDatagramChannel qemu = qemu();
        send(qemu, frame(port.maxFrameLength() + 1, 1));
        send(qemu, frame(5000, 2));
        send(qemu, new byte[0]);
        byte[] good = frame(100, 3);
        send(qemu, good);
        driver.until(() -> driver.frames.size() == 1, WAIT, "the good frame");
        assertArrayEquals(good, driver.frames.get(0));
        assertEquals(2, port.count(Event.OVERSIZE_DATAGRAM));
        assertEquals(1, port.count(Event.EMPTY_DATAGRAM));
    }

    /**
     * Jumbo datagrams held in one batch, as the datapath thread holds a batch until it is forwarded: each
     * is read into a fragment bounded by the port's largest frame, carved from the queue's chunks, not
     * with one of the few large buffers behind it, so the batch is not cut at {@link
     * FragAllocator#DEFAULT_MAX_LARGE}. Ten datagrams: what a unix datagram socket queues by default
     * ({@code net.unix.max_dgram_qlen}).
     */
    @Test
    void aBatchOfJumboDatagramsIsNotCutAtTheLargeBuffers() throws IOException {
        Path jumboPath = dir.resolve("jumbo.sock");
        UnixDatagramChannel qemu = bind(dir.resolve("qemu-jumbo.sock"));
        try (VmDgramPort jumbo = VmDgramPort.open("vmj", jumboPath, dir.resolve("qemu-jumbo.sock"), 9000, PROBE)) {
            assertTrue(jumbo.linkUp());
            int count = 10;
            List<byte[]> sent = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                sent.add(frame(jumbo.maxFrameLength(), 70 + i));
                assertEquals(jumbo.maxFrameLength(),
                        qemu.send(ByteBuffer.wrap(sent.get(i)), new UnixSocketAddress(jumboPath.toFile())));
            }
            FrameBatch batch = new FrameBatch(FrameBatch.DEFAULT_CAPACITY);
            try {
                long quietUntil = System.nanoTime() + Duration.ofMillis(300).toNanos();
                while (batch.count() < count && System.nanoTime() < quietUntil) {
                    jumbo.queue(0).receive(batch);
                }
                HeldBatch.assertWholeInFragments(sent, batch, jumbo.queue(0).allocator());
            } finally {
                HeldBatch.release(batch);
            }
        }
    }

    @Test
    void transmitSendsOneDatagramPerFrame() throws IOException {
        UnixDatagramChannel qemu = qemu();
        for (int i = 0; i < 20; i++) {
            byte[] bytes = frame(60 + i * 70, 10 + i);
            Frame f = txFrame(bytes);
            assertEquals(FrameSink.SENT, port.queue(0).transmit(f));
            f.release();
            assertArrayEquals(bytes, receive(qemu), "datagram " + i);
        }
    }

    @Test
    void linkFollowsQemusSocket() throws IOException {
        assertFalse(port.linkUp(), "nobody at the peer path yet");
        Frame f = txFrame(frame(64, 1));
        assertEquals(DropReason.PORT_DOWN.ordinal(), port.queue(0).transmit(f));

        UnixDatagramChannel qemu = qemu(); // the periodic probe, through the queue fd, finds it
        assertEquals(1, port.count(Event.PEER_UP));
        assertEquals(FrameSink.SENT, port.queue(0).transmit(f));
        assertArrayEquals(frame(64, 1), receive(qemu));

        qemu.close(); // QEMU exits: its socket file stays, nobody is bound to it
        assertTrue(Files.exists(peerPath));
        driver.until(() -> !port.linkUp(), WAIT, "the probe to see QEMU gone");
        assertEquals(1, port.count(Event.PEER_DOWN));
        assertEquals(DropReason.PORT_DOWN.ordinal(), port.queue(0).transmit(f));
        f.release();
    }

    @Test
    void aSendToAVanishedPeerTakesTheLinkDownAtOnce() throws IOException {
        UnixDatagramChannel qemu = qemu();
        qemu.close();
        Files.delete(peerPath);
        Frame f = txFrame(frame(64, 1));
        assertEquals(DropReason.PORT_DOWN.ordinal(), port.queue(0).transmit(f));
        f.release();
        assertFalse(port.linkUp());
    }

    @Test
    void aPeerThatDoesNotReadMakesTransmitsBusyNotBlocking() throws IOException {
        qemu();
        int sent = 0;
        int busy = 0;
        long start = System.nanoTime();
        for (int i = 0; i < 100_000 && busy == 0; i++) {
            Frame f = txFrame(frame(1500, i));
            int rc = port.queue(0).transmit(f);
            f.release();
            if (rc == FrameSink.SENT) {
                sent++;
            } else {
                assertEquals(DropReason.TX_BUSY.ordinal(), rc);
                busy++;
            }
        }
        assertEquals(1, busy, "the peer's queue filled up");
        assertTrue(sent >= 5, "frames were queued first: " + sent);
        assertTrue(System.nanoTime() - start < Duration.ofSeconds(5).toNanos(), "never blocked");
        assertTrue(port.linkUp(), "a busy peer is still there");
    }

    @Test
    void qemuNetdevNamesBothSockets() {
        assertEquals("dgram,id=vmd,local.type=unix,local.path=" + peerPath + ",remote.type=unix,remote.path=" + path,
                port.qemuNetdev());
        assertEquals("vm-dgram", port.kind());
    }

    /**
     * The probe timer keeps the kernel's schedule when its thread serves it late: afterwards the queue
     * still reports ready once per probe. Its deadline used to be "served plus a period", later than the
     * kernel's next expiry by the delay, and the queue's fd stayed ready without the probe being due:
     * the datapath thread spun for that long in every period, longer each time.
     */
    @Test
    void aProbeServedLateDoesNotKeepTheQueueReady() throws Exception {
        qemu();
        driver.step(1_000);
        Thread.sleep(PROBE.toMillis() + 30); // the next probe is served 30 ms late
        driver.step(0);
        int before = driver.wakeups;
        driver.runFor(PROBE.multipliedBy(3));
        int woken = driver.wakeups - before;
        assertTrue(woken <= 4, "an idle queue woke its thread " + woken + " times in three probe periods");
    }
}
