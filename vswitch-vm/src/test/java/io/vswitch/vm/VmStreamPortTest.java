package io.vswitch.vm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
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
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link VmStreamPort} against real unix stream sockets, with a JDK unix-socket client speaking QEMU's
 * {@code -netdev stream} framing (4-byte big-endian length, then the frame) as the guest.
 */
class VmStreamPortTest {
    private static final Duration WAIT = Duration.ofSeconds(5);
    private static final Duration STALL = Duration.ofMillis(400);

    @TempDir
    Path dir;
    private Path path;
    private VmStreamPort port;
    private QueueDriver driver;
    private final List<SocketChannel> guests = new ArrayList<>();
    private final FragAllocator txAllocator = new FragAllocator(DirectAddress.INSTANCE);

    @BeforeEach
    void open() throws IOException {
        path = dir.resolve("vm0.sock");
        port = VmStreamPort.open("vm0", path, null, STALL);
        driver = new QueueDriver(port.queue(0));
    }

    @AfterEach
    void close() throws IOException {
        for (SocketChannel g : guests) {
            g.close();
        }
        if (driver != null) {
            driver.close();
        }
        if (port != null) {
            port.close();
        }
    }

    // ---- helpers ----

    private SocketChannel connect() throws IOException {
        SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(path));
        guests.add(ch);
        return ch;
    }

    private SocketChannel connectedGuest() throws IOException {
        SocketChannel g = connect();
        long before = port.count(Event.CONNECTED);
        driver.until(() -> port.count(Event.CONNECTED) > before && port.linkUp(), WAIT, "the guest to be adopted");
        return g;
    }

    private static byte[] frame(int length, int seed) {
        byte[] f = new byte[length];
        new Random(seed).nextBytes(f);
        f[0] = 0x02; // a unicast destination MAC
        return f;
    }

    private static ByteBuffer framed(byte[]... frames) {
        int total = 0;
        for (byte[] f : frames) {
            total += 4 + f.length;
        }
        ByteBuffer b = ByteBuffer.allocate(total);
        for (byte[] f : frames) {
            b.putInt(f.length).put(f);
        }
        return b.flip();
    }

    private static void writeAll(SocketChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }

    /** Reads one framed frame as the guest's QEMU would; null on end of stream. */
    private static byte[] readFrame(SocketChannel ch) throws IOException {
        ByteBuffer len = ByteBuffer.allocate(4);
        if (!readFully(ch, len)) {
            return null;
        }
        ByteBuffer body = ByteBuffer.allocate(len.flip().getInt());
        if (!readFully(ch, body)) {
            throw new AssertionError("stream ended inside a frame");
        }
        return body.array();
    }

    private static boolean readFully(SocketChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            if (ch.read(b) < 0) {
                if (b.position() == 0) {
                    return false;
                }
                throw new AssertionError("stream ended after " + b.position() + " of " + b.capacity() + " bytes");
            }
        }
        return true;
    }

    private Frame txFrame(FragAllocator allocator, byte[] bytes) {
        Frame f = new Frame();
        assertTrue(allocator.allocate(f, bytes.length));
        f.write(bytes, 0, bytes.length);
        return f;
    }

    /** Whether the port closed this connection: its read says end of stream within 2 s. */
    private static boolean atEof(SocketChannel ch) throws IOException {
        ch.configureBlocking(false);
        try {
            ByteBuffer any = ByteBuffer.allocate(64 * 1024);
            long deadline = System.nanoTime() + Duration.ofSeconds(2).toNanos();
            while (System.nanoTime() < deadline) {
                any.clear();
                int n = ch.read(any);
                if (n < 0) {
                    return true;
                }
                if (n == 0) {
                    Thread.sleep(5);
                }
            }
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        } finally {
            ch.configureBlocking(true);
        }
    }

    // ---- tests ----

    @Test
    void framesFromTheGuestArriveWholeWhateverTheWriteBoundaries() throws IOException {
        SocketChannel g = connectedGuest();
        Random random = new Random(7);
        List<byte[]> sent = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
            sent.add(frame(14 + random.nextInt(port.maxFrameLength() - 13), i));
        }
        ByteBuffer stream = framed(sent.toArray(new byte[0][]));
        // Cut the stream at random points, some a single byte long, across prefixes and frames.
        while (stream.hasRemaining()) {
            int cut = Math.min(stream.remaining(), random.nextInt(4) == 0 ? 1 + random.nextInt(3) : 1 + random.nextInt(9000));
            ByteBuffer piece = stream.slice(stream.position(), cut);
            writeAll(g, piece);
            stream.position(stream.position() + cut);
            if (random.nextInt(8) == 0) {
                driver.step(0);
            }
        }
        driver.until(() -> driver.frames.size() >= sent.size(), WAIT, "all frames");
        assertEquals(sent.size(), driver.frames.size());
        for (int i = 0; i < sent.size(); i++) {
            assertArrayEquals(sent.get(i), driver.frames.get(i), "frame " + i);
            assertEquals(FragAllocator.HEADROOM, driver.headrooms.get(i), "headroom of frame " + i);
        }
        assertEquals(0, port.count(Event.STALLED));
    }

    @Test
    void largestFrameIsAcceptedAndOneByteMoreClosesTheConnection() throws IOException {
        SocketChannel g = connectedGuest();
        byte[] max = frame(port.maxFrameLength(), 1);
        writeAll(g, framed(max));
        driver.until(() -> driver.frames.size() == 1, WAIT, "the largest frame");
        assertArrayEquals(max, driver.frames.get(0));

        ByteBuffer bad = ByteBuffer.allocate(4 + port.maxFrameLength() + 1);
        bad.putInt(port.maxFrameLength() + 1).position(bad.capacity()).flip();
        writeAll(g, bad);
        driver.until(() -> port.count(Event.OVERSIZE_LENGTH) == 1, WAIT, "the oversize prefix to be seen");
        assertFalse(port.linkUp());
        assertTrue(atEof(g), "the guest's connection is closed");
        assertEquals(1, driver.frames.size(), "nothing of the bad frame was delivered");
    }

    @Test
    void hugePrefixClosesTheConnection() throws IOException {
        SocketChannel g = connectedGuest();
        writeAll(g, ByteBuffer.allocate(8).putInt(0xffff_ffff).putInt(0).flip());
        driver.until(() -> port.count(Event.OVERSIZE_LENGTH) == 1, WAIT, "the 4 GiB prefix to be refused");
        assertTrue(atEof(g));
        assertFalse(port.linkUp());
    }

    @Test
    void zeroLengthClosesTheConnectionAndANewGuestCanConnect() throws IOException {
        SocketChannel g = connectedGuest();
        byte[] good = frame(60, 3);
        ByteBuffer b = ByteBuffer.allocate(4 + 60 + 4 + 60);
        b.put(framed(good)).putInt(0).put(frame(60, 4)).flip();
        writeAll(g, b);
        driver.until(() -> port.count(Event.ZERO_LENGTH) == 1, WAIT, "the zero prefix to be refused");
        assertEquals(1, driver.frames.size(), "the frame before the bad prefix is delivered");
        assertArrayEquals(good, driver.frames.get(0));
        assertTrue(atEof(g));
        assertFalse(port.linkUp());

        SocketChannel g2 = connectedGuest();
        byte[] after = frame(100, 5);
        writeAll(g2, framed(after));
        driver.until(() -> driver.frames.size() == 2, WAIT, "a frame from the next guest");
        assertArrayEquals(after, driver.frames.get(1));
    }

    @Test
    void aFrameStalledMidwayClosesTheConnectionOnTheTimer() throws IOException {
        SocketChannel g = connectedGuest();
        writeAll(g, ByteBuffer.allocate(4 + 30).putInt(100).position(34).flip()); // 30 of 100 bytes
        long start = System.nanoTime();
        driver.runFor(STALL.dividedBy(2));
        assertTrue(port.linkUp(), "not closed before the stall timeout");
        int wakeupsBefore = driver.wakeups;
        driver.until(() -> port.count(Event.STALLED) == 1, WAIT, "the stall to be detected");
        long took = System.nanoTime() - start;
        assertTrue(took >= STALL.toNanos(), "closed only after the timeout, took " + took / 1_000_000 + " ms");
        assertTrue(driver.wakeups > wakeupsBefore, "the timer woke the datapath thread through the queue fd");
        assertFalse(port.linkUp());
        assertTrue(atEof(g));
        assertEquals(0, driver.frames.size());
    }

    @Test
    void aSlowFrameThatKeepsMovingIsNotStalled() throws Exception {
        SocketChannel g = connectedGuest();
        byte[] f = frame(200, 9);
        ByteBuffer b = framed(f);
        // 8 pieces, 150 ms apart: 1.05 s in all, well over the 400 ms stall timeout, but never idle that long.
        int piece = (b.remaining() + 7) / 8;
        while (b.hasRemaining()) {
            int n = Math.min(piece, b.remaining());
            writeAll(g, b.slice(b.position(), n));
            b.position(b.position() + n);
            driver.runFor(Duration.ofMillis(150));
        }
        driver.until(() -> driver.frames.size() == 1, WAIT, "the slow frame");
        assertArrayEquals(f, driver.frames.get(0));
        assertEquals(0, port.count(Event.STALLED));
        assertTrue(port.linkUp());
    }

    @Test
    void noGuestMeansLinkDownAndPortDownDrops() throws IOException {
        assertFalse(port.linkUp());
        Frame f = txFrame(txAllocator, frame(64, 1));
        assertEquals(DropReason.PORT_DOWN.ordinal(), port.queue(0).transmit(f));
        f.release();
    }

    @Test
    void transmitSendsPrefixAndFrameAndLeavesTheHeadroomAsItWas() throws IOException {
        SocketChannel g = connectedGuest();
        byte[] bytes = frame(1514, 11);
        Frame f = txFrame(txAllocator, bytes);
        ByteBuffer buf = f.buffer();
        for (int i = 1; i <= 12; i++) {
            buf.put(f.start() - i, (byte) (0xA0 + i)); // e.g. a virtio-net header another port still needs
        }
        assertEquals(FrameSink.SENT, port.queue(0).transmit(f));
        for (int i = 1; i <= 12; i++) {
            assertEquals((byte) (0xA0 + i), buf.get(f.start() - i), "headroom byte -" + i + " restored");
        }
        assertArrayEquals(bytes, readFrame(g));
        f.release();
    }

    @Test
    void aFrameWithoutRoomForThePrefixIsStillSent() throws IOException {
        SocketChannel g = connectedGuest();
        byte[] bytes = frame(300, 12);
        Frame f = new Frame();
        assertTrue(txAllocator.allocate(f, 400));
        f.setBounds(f.fragmentStart() + 2, bytes.length); // only 2 bytes of headroom
        f.write(bytes, 0, bytes.length);
        assertEquals(2, f.headroom());
        assertEquals(FrameSink.SENT, port.queue(0).transmit(f));
        assertArrayEquals(bytes, readFrame(g));
        f.release();
    }

    @Test
    void oversizeTransmitIsDropped() throws IOException {
        connectedGuest();
        Frame f = txFrame(txAllocator, frame(port.maxFrameLength() + 1, 2));
        assertEquals(DropReason.OVERSIZE.ordinal(), port.queue(0).transmit(f));
        f.release();
    }

    @Test
    void aSecondConnectionIsRefusedWhileTheFirstKeepsWorking() throws IOException {
        SocketChannel first = connectedGuest();
        SocketChannel second = connect();
        driver.until(() -> port.count(Event.REFUSED) == 1, WAIT, "the second connection to be refused");
        assertTrue(atEof(second), "the second connection was closed");
        assertTrue(port.linkUp());
        assertEquals(1, port.count(Event.CONNECTED));

        byte[] in = frame(80, 21);
        writeAll(first, framed(in));
        driver.until(() -> driver.frames.size() == 1, WAIT, "a frame from the first guest");
        assertArrayEquals(in, driver.frames.get(0));
        byte[] out = frame(90, 22);
        Frame f = txFrame(txAllocator, out);
        assertEquals(FrameSink.SENT, port.queue(0).transmit(f));
        f.release();
        assertArrayEquals(out, readFrame(first));
    }

    @Test
    void aReconnectingGuestTakesThePortBack() throws IOException {
        SocketChannel first = connectedGuest();
        first.close();
        driver.until(() -> !port.linkUp(), WAIT, "the link to go down");
        assertEquals(1, port.count(Event.PEER_CLOSED));
        Frame f = txFrame(txAllocator, frame(64, 30));
        assertEquals(DropReason.PORT_DOWN.ordinal(), port.queue(0).transmit(f));

        SocketChannel second = connectedGuest();
        assertEquals(FrameSink.SENT, port.queue(0).transmit(f));
        assertArrayEquals(frame(64, 30), readFrame(second));
        f.release();
        assertEquals(0, port.count(Event.REFUSED));
    }

    @Test
    void aGuestRestartedBeforeItsEndWasReadIsNotRefused() throws IOException {
        SocketChannel first = connectedGuest();
        // Exit and come back before the datapath thread gets to run: both events wait together.
        first.close();
        SocketChannel second = connect();
        driver.until(() -> port.count(Event.CONNECTED) == 2 && port.linkUp(), WAIT, "the new guest to own the port");
        assertEquals(0, port.count(Event.REFUSED));
        assertEquals(1, port.count(Event.PEER_CLOSED));
        byte[] in = frame(70, 40);
        writeAll(second, framed(in));
        driver.until(() -> driver.frames.size() == 1, WAIT, "a frame from the new guest");
    }

    @Test
    void aFullSocketDropsAsBusyAndTheGuestStillSeesOnlyWholeFrames() throws Exception {
        SocketChannel g = connectedGuest();
        fillThenDrain(port, driver, g, 1000, 500);
    }

    @Test
    void framesTheSocketTakesOnlyInPartAreFinishedBeforeAnyOther() throws Exception {
        // A small send buffer and jumbo frames: the kernel takes a frame in several pieces and may stop
        // between two of them, leaving a tail the port must send before anything else.
        Path p = dir.resolve("partial.sock");
        try (VmStreamPort small = VmStreamPort.open("vmp", p, 9000, STALL, 4096);
             QueueDriver d = new QueueDriver(small.queue(0));
             SocketChannel g = SocketChannel.open(UnixDomainSocketAddress.of(p))) {
            d.until(small::linkUp, WAIT, "the guest to connect");
            fillThenDrain(small, d, g, 8100, 900); // 3 socket buffers' worth each
            assertTrue(small.partialSends() > 0, "some frames went out in part");
        }
    }

    /**
     * Transmits until the guest's socket is full (the guest reads nothing) and 50 frames were refused
     * as busy, then lets the guest read while more frames go out; every frame the port said it sent
     * must arrive whole, in order, and nothing else.
     */
    private void fillThenDrain(VmStreamPort p, QueueDriver d, SocketChannel g, int size, int spread) throws Exception {
        int sent = 0;
        int busy = 0;
        int seq = 0;
        while (busy < 50 && seq < 100_000) {
            Frame f = txFrame(txAllocator, seqFrame(seq++, size + seq % spread));
            int rc = p.queue(0).transmit(f);
            f.release();
            if (rc == FrameSink.SENT) {
                sent++;
            } else {
                assertEquals(DropReason.TX_BUSY.ordinal(), rc);
                busy++;
            }
        }
        assertEquals(50, busy, "the socket filled up");
        assertTrue(sent >= 1, "a frame fit the socket first: " + sent);
        AtomicInteger received = new AtomicInteger();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Integer> seqs = new ArrayList<>();
        Thread reader = new Thread(() -> {
            try {
                byte[] f;
                while ((f = readFrame(g)) != null) {
                    checkSeqFrame(f);
                    synchronized (seqs) {
                        seqs.add(ByteBuffer.wrap(f).getInt(14));
                    }
                    received.incrementAndGet();
                }
            } catch (Throwable t) {
                failure.set(t);
            }
        });
        reader.start();
        int firstSent = sent;
        // The datapath thread is woken (EPOLLOUT through the queue fd) to send any kept tail.
        d.until(() -> received.get() == firstSent || failure.get() != null, WAIT, "the guest to read all sent frames");
        for (int i = 0; i < 200; i++) {
            Frame f = txFrame(txAllocator, seqFrame(seq++, size));
            int rc;
            while ((rc = p.queue(0).transmit(f)) == DropReason.TX_BUSY.ordinal()) {
                d.step(1);
            }
            assertEquals(FrameSink.SENT, rc);
            sent++;
            f.release();
        }
        int total = sent;
        d.until(() -> received.get() == total || failure.get() != null, WAIT, "the guest to read the later frames");
        g.shutdownInput();
        reader.join(5000);
        if (failure.get() != null) {
            throw new AssertionError("the guest saw a broken stream", failure.get());
        }
        assertEquals(total, received.get());
        synchronized (seqs) {
            for (int i = 1; i < seqs.size(); i++) {
                assertTrue(seqs.get(i) > seqs.get(i - 1), "frames in order");
            }
        }
    }

    @Test
    void concurrentTransmittersNeverInterleaveInsideAFrame() throws Exception {
        SocketChannel g = connectedGuest();
        AtomicInteger received = new AtomicInteger();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread reader = new Thread(() -> {
            try {
                byte[] f;
                while ((f = readFrame(g)) != null) {
                    checkSeqFrame(f);
                    received.incrementAndGet();
                }
            } catch (Throwable t) {
                failure.set(t);
            }
        });
        reader.start();
        AtomicInteger sent = new AtomicInteger();
        List<Thread> writers = new ArrayList<>();
        for (int w = 0; w < 3; w++) {
            int id = w;
            writers.add(new Thread(() -> {
                FragAllocator own = new FragAllocator(DirectAddress.INSTANCE);
                for (int i = 0; i < 3000; i++) {
                    Frame f = txFrame(own, seqFrame(id * 1_000_000 + i, 60 + (i * 37 + id) % 1400));
                    if (port.queue(0).transmit(f) == FrameSink.SENT) {
                        sent.incrementAndGet();
                    }
                    f.release();
                }
            }));
        }
        writers.forEach(Thread::start);
        while (writers.stream().anyMatch(Thread::isAlive)) {
            driver.step(5); // the datapath thread flushes kept tails when the socket has room
        }
        driver.until(() -> received.get() == sent.get() || failure.get() != null, WAIT, "the guest to read every sent frame");
        g.shutdownInput();
        reader.join(5000);
        if (failure.get() != null) {
            throw new AssertionError("the guest saw a broken stream", failure.get());
        }
        assertEquals(sent.get(), received.get());
        assertTrue(sent.get() > 1000, "most frames went out: " + sent.get());
    }

    /** A frame carrying its sequence number at 14 and a pattern derived from it everywhere else. */
    private static byte[] seqFrame(int seq, int length) {
        byte[] f = new byte[length];
        ByteBuffer b = ByteBuffer.wrap(f);
        b.put(0, (byte) 2);
        b.putInt(14, seq);
        for (int i = 18; i < length; i++) {
            f[i] = (byte) (seq * 31 + i);
        }
        return f;
    }

    private static void checkSeqFrame(byte[] f) {
        int seq = ByteBuffer.wrap(f).getInt(14);
        for (int i = 18; i < f.length; i++) {
            if (f[i] != (byte) (seq * 31 + i)) {
                throw new AssertionError("frame " + seq + " of " + f.length + " bytes is corrupt at byte " + i);
            }
        }
    }

    @Test
    void jumboMtuFramesArriveWholeWithFullHeadroom() throws IOException {
        Path jumboPath = dir.resolve("jumbo.sock");
        try (VmStreamPort jumbo = VmStreamPort.open("vmj", jumboPath, 9000, STALL);
             QueueDriver d = new QueueDriver(jumbo.queue(0));
             SocketChannel g = SocketChannel.open(UnixDomainSocketAddress.of(jumboPath))) {
            assertEquals(9022, jumbo.maxFrameLength());
            byte[] big = frame(9014, 50);
            writeAll(g, framed(big, frame(100, 51)));
            d.until(() -> d.frames.size() == 2, WAIT, "a jumbo and a small frame");
            assertArrayEquals(big, d.frames.get(0));
            assertEquals(FragAllocator.HEADROOM, d.headrooms.get(0));
        }
    }

    /**
     * Jumbo frames held in one batch, as the datapath thread holds a batch until it is forwarded: each
     * takes a fragment of its own length from the queue's chunks, not one of the few large buffers, so
     * the batch is not cut at {@link FragAllocator#DEFAULT_MAX_LARGE}.
     */
    @Test
    void aBatchOfJumboFramesIsNotCutAtTheLargeBuffers() throws IOException {
        Path jumboPath = dir.resolve("jumbo.sock");
        try (VmStreamPort jumbo = VmStreamPort.open("vmj", jumboPath, 9000, STALL);
             QueueDriver d = new QueueDriver(jumbo.queue(0));
             SocketChannel g = SocketChannel.open(UnixDomainSocketAddress.of(jumboPath))) {
            d.until(jumbo::linkUp, WAIT, "the guest to be adopted");
            int count = 32;
            byte[][] frames = new byte[count][];
            for (int i = 0; i < count; i++) {
                frames[i] = frame(jumbo.maxFrameLength(), 60 + i);
            }
            // More than the socket buffers hold: the guest writes as the port reads, on this one thread.
            ByteBuffer stream = framed(frames);
            g.configureBlocking(false);
            FrameBatch batch = new FrameBatch(FrameBatch.DEFAULT_CAPACITY);
            try {
                long quietUntil = System.nanoTime() + WAIT.toNanos();
                while (batch.count() < count && System.nanoTime() < quietUntil) {
                    int wrote = g.write(stream);
                    if (jumbo.queue(0).receive(batch) > 0 || wrote > 0) {
                        quietUntil = System.nanoTime() + Duration.ofMillis(300).toNanos();
                    }
                }
                HeldBatch.assertWholeInFragments(List.of(frames), batch, jumbo.queue(0).allocator());
            } finally {
                HeldBatch.release(batch);
            }
        }
    }

    @Test
    void aStaleSocketFileIsReplacedButALiveOneIsNot() throws IOException {
        Path stale = dir.resolve("stale.sock");
        try (ServerSocketChannel dead = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            dead.bind(UnixDomainSocketAddress.of(stale));
        }
        assertTrue(Files.exists(stale), "closing a listener leaves its file behind");
        try (VmStreamPort p = VmStreamPort.open("vms", stale, null)) {
            assertTrue(Files.exists(stale));
            IOException e = assertThrows(IOException.class, () -> VmStreamPort.open("vmt", stale, null));
            assertTrue(e.getMessage().contains("in use"), e.getMessage());
        }
        assertFalse(Files.exists(stale), "close() removes the socket file");

        Path regular = Files.writeString(dir.resolve("file.sock"), "not a socket");
        IOException e = assertThrows(IOException.class, () -> VmStreamPort.open("vmf", regular, null));
        assertTrue(e.getMessage().contains("not a unix socket"), e.getMessage());
        assertTrue(Files.exists(regular), "a file that is not a socket is left alone");
    }

    @Test
    void tooLongAPathIsRejectedUpFront() {
        Path deep = dir.resolve("x".repeat(120) + ".sock");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> VmStreamPort.open("vml", deep, null));
        assertTrue(e.getMessage().contains("107"), e.getMessage());
    }

    @Test
    void qemuNetdevNamesThePortSocket() throws IOException {
        assertEquals("stream,id=vm0,server=off,addr.type=unix,addr.path=" + path, port.qemuNetdev());
        assertEquals("vm-stream", port.kind());
        assertEquals(0, port.offloads());
        Path comma = dir.resolve("a,b.sock");
        try (VmStreamPort p = VmStreamPort.open("0vm", comma, null)) {
            assertEquals("stream,id=vsw-0vm,server=off,addr.type=unix,addr.path=" + dir + "/a,,b.sock", p.qemuNetdev());
        }
        assertNotEquals(0, port.queue(0).fd());
    }
}
