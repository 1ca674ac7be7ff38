package io.vswitch.vm.vhost;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.frame.DropReason;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.VnetHeader;
import io.vswitch.core.port.BatchSink;
import io.vswitch.core.port.FrameSink;
import io.vswitch.linux.DirectAddress;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A vhost-user queue takes a whole batch of frames into the guest's RX ring at once
 * ({@link BatchSink#transmit(Frame[], int, int[])}) and makes it visible with one used-index store and
 * at most one interrupt, decided over the batch's whole range of used entries as virtio's
 * {@code vring_need_event} says. Against {@link FakeGuest}: real memfd guest memory laid out as a
 * driver does, the protocol over a real socket, and the call eventfd's counter read as the guest would
 * see its interrupts.
 */
class VhostBatchTransmitTest {
    private static final int SENT = FrameSink.SENT;
    private static final int TX_BUSY = DropReason.TX_BUSY.ordinal();
    private static final int PORT_DOWN = DropReason.PORT_DOWN.ordinal();
    private static final int OVERSIZE = DropReason.OVERSIZE.ordinal();
    private static final long NO_EVENT_IDX = FakeGuest.FEATURES & ~(1L << VhostFeatures.RING_F_EVENT_IDX);
    private static final long NO_MERGEABLE = FakeGuest.FEATURES & ~(1L << VhostFeatures.NET_F_MRG_RXBUF);

    private Path dir;
    private final List<AutoCloseable> open = new ArrayList<>();
    private final FragAllocator allocator = new FragAllocator(DirectAddress.INSTANCE);
    private final List<Frame> frames = new ArrayList<>();

    @BeforeEach
    void dir() throws IOException {
        dir = Files.createTempDirectory("vswvhbatch-");
    }

    @AfterEach
    void clean() throws Exception {
        for (Frame f : frames) {
            f.release();
        }
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

    private VhostUserPort port(int queues) throws IOException {
        VhostUserPort port = VhostUserPort.open("vb" + open.size(), dir.resolve("vb" + open.size() + ".sock"),
                VhostUserPort.Mode.SERVER, queues, null, VhostUserPort.SocketAccess.INHERIT);
        open.add(port);
        return port;
    }

    /** A port with a guest that negotiated {@code features}, all rings running. */
    private FakeGuest running(VhostUserPort port, long features) throws Exception {
        FakeGuest g = new FakeGuest(port.socketPath(), port.queueCount());
        open.add(g);
        g.start(features);
        VhostUserPortTest.until(() -> port.ringStates().stream().allMatch("running"::equals), "every ring running");
        return g;
    }

    private Frame frame(int length, int seed) {
        Frame f = new Frame();
        allocator.allocate(f, length);
        f.write(VhostUserPortTest.frame(length, seed), 0, length);
        f.setOffload(0, 0, 0, 0, 0, 0);
        frames.add(f);
        return f;
    }

    private Frame superFrame(int length, int seed) {
        Frame f = frame(length, seed);
        f.setOffload(VnetHeader.FLAG_NEEDS_CSUM, VnetHeader.GSO_TCPV4, 54, 1448, 34, 16);
        return f;
    }

    private static int[] send(VhostUserPort port, int queue, Frame... batch) {
        int[] results = new int[batch.length];
        Arrays.fill(results, Integer.MIN_VALUE);
        ((BatchSink) port.queue(queue)).transmit(batch, batch.length, results);
        return results;
    }

    private Frame[] smallFrames(int n) {
        Frame[] out = new Frame[n];
        for (int i = 0; i < n; i++) {
            out[i] = frame(100 + i, i);
        }
        return out;
    }

    private static int[] all(int n, int result) {
        int[] out = new int[n];
        Arrays.fill(out, result);
        return out;
    }

    @Test
    void aBatchIsPublishedOnceWithOneInterrupt() throws Exception {
        VhostUserPort port = port(1);
        FakeGuest g = running(port, NO_EVENT_IDX);
        g.offerRxBuffers(0, 16, 2048);
        Frame[] batch = smallFrames(8);

        assertArrayEquals(all(8, SENT), send(port, 0, batch));
        assertEquals(8, g.usedIndex(0));
        assertEquals(1, g.calls(0), "one interrupt for the batch of 8, not one per frame");
        assertEquals(1, port.guestRxNotifications(0));
        List<byte[]> used = g.takeUsed(0);
        assertEquals(8, used.size());
        for (int i = 0; i < 8; i++) {
            byte[] b = used.get(i);
            assertEquals(1, b[10], "num_buffers");
            assertArrayEquals(VhostUserPortTest.frame(100 + i, i), Arrays.copyOfRange(b, VnetHeader.SIZE, b.length), "frame " + i);
        }

        // The one-frame path is the one-frame case: one interrupt per call.
        for (int i = 0; i < 3; i++) {
            assertEquals(SENT, port.queue(0).transmit(batch[i]));
        }
        assertEquals(11, g.usedIndex(0));
        assertEquals(3, g.calls(0));
        assertEquals(4, port.guestRxNotifications(0));
    }

    @Test
    void aGuestThatSuppressedInterruptsGetsNone() throws Exception {
        VhostUserPort port = port(1);
        FakeGuest g = running(port, NO_EVENT_IDX);
        g.offerRxBuffers(0, 16, 2048);
        g.setAvailFlags(0, SplitVirtqueue.AVAIL_F_NO_INTERRUPT);
        assertArrayEquals(all(5, SENT), send(port, 0, smallFrames(5)));
        assertEquals(5, g.usedIndex(0), "published all the same");
        assertEquals(0, g.calls(0));
        assertEquals(0, port.guestRxNotifications(0));
    }

    @Test
    void withEventIdxTheGuestIsSignalledOnlyWhenTheBatchPassesItsUsedEvent() throws Exception {
        VhostUserPort port = port(1);
        FakeGuest g = running(port, FakeGuest.FEATURES);
        g.offerRxBuffers(0, 64, 2048);

        g.setUsedEvent(0, 10); // "signal me when entry 10 is used": 0..5 does not reach it
        assertArrayEquals(all(5, SENT), send(port, 0, smallFrames(5)));
        assertEquals(5, g.usedIndex(0));
        assertEquals(0, g.calls(0));

        g.setUsedEvent(0, 7); // inside 5..10
        assertArrayEquals(all(5, SENT), send(port, 0, smallFrames(5)));
        assertEquals(10, g.usedIndex(0));
        assertEquals(1, g.calls(0), "one signal for the batch whose range holds used_event");

        g.setUsedEvent(0, 10); // the first entry of 10..15
        send(port, 0, smallFrames(5));
        assertEquals(1, g.calls(0));

        g.setUsedEvent(0, 14); // just before 15..20
        send(port, 0, smallFrames(5));
        assertEquals(0, g.calls(0), "used_event 14 lies before 15..20: the guest was signalled for it already");

        g.setUsedEvent(0, 24); // the last entry of 20..25
        send(port, 0, smallFrames(5));
        assertEquals(1, g.calls(0));
        assertEquals(3, port.guestRxNotifications(0));
    }

    @Test
    void withRoomForSomeOfTheBatchTheRestIsBusyAndNotTried() throws Exception {
        VhostUserPort port = port(1);
        FakeGuest g = running(port, NO_EVENT_IDX);
        g.offerRxBuffers(0, 3, 2048);
        assertArrayEquals(new int[] {SENT, SENT, SENT, TX_BUSY, TX_BUSY}, send(port, 0, smallFrames(5)));
        assertEquals(3, g.usedIndex(0), "exactly the frames that fitted are published");
        assertEquals(3, g.takeUsed(0).size());
        assertEquals(1, g.calls(0));
        assertEquals(2, port.count(VhostEvent.RX_RING_FULL), "each busy frame counted");

        // Mergeable: a super-frame that does not fit stops the batch, even though the small frame after
        // it would fit into what is left (order is kept; the kernel's vhost-net stops there too).
        g.offerRxBuffers(0, 3, 4096);
        assertArrayEquals(new int[] {SENT, TX_BUSY, TX_BUSY},
                send(port, 0, frame(200, 1), superFrame(20000, 2), frame(60, 3)));
        assertEquals(4, g.usedIndex(0));
        assertEquals(4, port.count(VhostEvent.RX_RING_FULL));

        // The two buffers left take two frames; then nothing is left: a whole batch is busy, nothing
        // more is published and nobody is signalled for it.
        g.calls(0);
        assertArrayEquals(new int[] {SENT, SENT}, send(port, 0, frame(64, 4), frame(64, 5)));
        assertArrayEquals(all(3, TX_BUSY), send(port, 0, smallFrames(3)));
        assertEquals(6, g.usedIndex(0));
        assertEquals(1, g.calls(0), "only the batch that delivered signalled");
        assertEquals(7, port.count(VhostEvent.RX_RING_FULL));
    }

    @Test
    void mergeableBuffersAcrossABatch() throws Exception {
        VhostUserPort port = port(1);
        FakeGuest g = running(port, FakeGuest.FEATURES);
        g.offerRxBuffers(0, 12, 4096);
        Frame first = superFrame(20000, 1);
        Frame small = frame(300, 2);
        Frame second = superFrame(16000, 3);
        assertArrayEquals(all(3, SENT), send(port, 0, first, small, second));
        List<byte[]> used = g.takeUsed(0);
        assertEquals(5 + 1 + 4, used.size(), "12 + 20000, 12 + 300 and 12 + 16000 bytes in 4096-byte buffers");
        assertEquals(10, g.usedIndex(0));
        assertEquals(1, g.calls(0));
        byte[] a = join(used.subList(0, 5));
        byte[] b = used.get(5);
        byte[] c = join(used.subList(6, 10));
        assertEquals(5, a[10], "num_buffers of the first");
        assertEquals(1, b[10]);
        assertEquals(4, c[10]);
        assertEquals(VnetHeader.GSO_TCPV4, a[1]);
        assertEquals(0, b[1]);
        assertArrayEquals(VhostUserPortTest.frame(20000, 1), Arrays.copyOfRange(a, VnetHeader.SIZE, a.length));
        assertArrayEquals(VhostUserPortTest.frame(300, 2), Arrays.copyOfRange(b, VnetHeader.SIZE, b.length));
        assertArrayEquals(VhostUserPortTest.frame(16000, 3), Arrays.copyOfRange(c, VnetHeader.SIZE, c.length));
    }

    @Test
    void withoutMergeableBuffersASuperFrameNeedsOneBigBuffer() throws Exception {
        VhostUserPort port = port(1);
        FakeGuest g = running(port, NO_MERGEABLE);
        g.offerRxBuffers(0, 2, 4096);
        assertArrayEquals(new int[] {SENT, TX_BUSY, TX_BUSY}, send(port, 0, frame(100, 1), superFrame(6000, 2), frame(100, 3)));
        assertEquals(1, g.usedIndex(0), "the buffer the super-frame looked at stays available");
        g.offerRxBuffers(0, 1, FakeGuest.BUFFER);
        assertArrayEquals(all(2, SENT), send(port, 0, frame(100, 4), frame(100, 5)));
        assertEquals(3, g.usedIndex(0));
    }

    @Test
    void anOversizeFrameIsDroppedAndTheBatchGoesOn() throws Exception {
        VhostUserPort port = port(1);
        FakeGuest g = running(port, FakeGuest.FEATURES);
        g.offerRxBuffers(0, 8, 2048);
        assertArrayEquals(new int[] {SENT, OVERSIZE, SENT},
                send(port, 0, frame(100, 1), frame(port.maxFrameLength() + 1, 2), frame(100, 3)));
        assertEquals(2, g.usedIndex(0));
        assertEquals(1, g.calls(0));
    }

    @Test
    void aRingThatDoesNotRunTakesNothing() throws Exception {
        VhostUserPort port = port(1);
        assertArrayEquals(all(3, PORT_DOWN), send(port, 0, smallFrames(3)), "no guest yet");
        FakeGuest g = running(port, FakeGuest.FEATURES);
        g.offerRxBuffers(0, 8, 2048);
        g.stopRing(0);
        assertArrayEquals(all(3, PORT_DOWN), send(port, 0, smallFrames(3)), "stopped by GET_VRING_BASE");
        assertEquals(0, g.usedIndex(0));
        assertEquals(0, g.calls(0));
        assertEquals(0, port.count(VhostEvent.RX_RING_FULL));
    }

    @Test
    void aQueueWhoseRxRingTheGuestDidNotEnableSendsItsBatchToQueueZero() throws Exception {
        VhostUserPort port = port(2);
        FakeGuest g = running(port, FakeGuest.FEATURES);
        g.request(VhostRequest.SET_VRING_ENABLE, 0, new long[] {FakeGuest.state(2, 0)}, new int[0], false);
        VhostUserPortTest.until(() -> !port.ringStates().get(2).equals("running"), "ring 2 disabled");
        g.offerRxBuffers(0, 8, 2048);
        g.offerRxBuffers(2, 8, 2048);
        assertArrayEquals(all(4, SENT), send(port, 1, smallFrames(4)));
        assertEquals(4, g.usedIndex(0));
        assertEquals(0, g.usedIndex(2));
        assertEquals(1, g.calls(0));
        assertEquals(0, g.calls(2));
        assertEquals(1, port.guestRxNotifications(0));
    }

    private static byte[] join(List<byte[]> parts) {
        int n = 0;
        for (byte[] p : parts) {
            n += p.length;
        }
        byte[] out = new byte[n];
        int at = 0;
        for (byte[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }
}
