package io.vswitch.vm.vhost;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.kenai.jffi.MemoryIO;
import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.frame.DropReason;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
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
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A guest that breaks the rules: every kind of bad ring content and bad memory table is counted under
 * its own event, stops the ring (or resets the connection) and never reads or writes outside the
 * memory the guest declared. The fake guest's memfd is 16 MiB but only its first 8 MiB are declared
 * guest memory; the upper half holds a canary that must come through every test unchanged, and a
 * second port with a well-behaved guest must keep working throughout.
 */
class HostileGuestTest {
    private static final long DECLARED = 8L << 20;
    private static final MemoryIO IO = MemoryIO.getInstance();

    private Path dir;
    private VhostUserPort port;
    private FakeGuest guest;
    private VhostUserPort bystander;
    private FakeGuest goodGuest;
    private final FrameBatch batch = new FrameBatch(FrameBatch.DEFAULT_CAPACITY);

    @BeforeEach
    void setUp() throws Exception {
        dir = Files.createTempDirectory("vswhostile-");
        port = VhostUserPort.open("bad", dir.resolve("bad.sock"), VhostUserPort.Mode.SERVER, 1, null, null);
        guest = new FakeGuest(port.socketPath(), 1);
        fillCanary();
        guest.start(FakeGuest.FEATURES, DECLARED);
        VhostUserPortTest.until(port::linkUp, "the hostile guest's link");
        bystander = VhostUserPort.open("good", dir.resolve("good.sock"), VhostUserPort.Mode.SERVER, 1, null, null);
        goodGuest = new FakeGuest(bystander.socketPath(), 1);
        goodGuest.start(FakeGuest.FEATURES);
        VhostUserPortTest.until(bystander::linkUp, "the good guest's link");
    }

    @AfterEach
    void tearDown() throws IOException {
        try {
            assertCanaryIntact();
            assertBystanderWorks();
        } finally {
            port.close();
            bystander.close();
            guest.close();
            goodGuest.close();
            try (var files = Files.list(dir)) {
                for (Path p : files.toList()) {
                    Files.deleteIfExists(p);
                }
            }
            Files.deleteIfExists(dir);
        }
    }

    private void fillCanary() {
        long base = guest.memory.address() + DECLARED;
        for (long off = 0; off < DECLARED; off += 8) {
            IO.putLong(base + off, 0x5a5a_5a5a_5a5a_5a5aL ^ off);
        }
    }

    private void assertCanaryIntact() {
        long base = guest.memory.address() + DECLARED;
        for (long off = 0; off < DECLARED; off += 8) {
            if (IO.getLong(base + off) != (0x5a5a_5a5a_5a5a_5a5aL ^ off)) {
                throw new AssertionError("memory outside the declared region changed at offset " + (DECLARED + off));
            }
        }
    }

    private void assertBystanderWorks() {
        byte[] f = VhostUserPortTest.frame(300, 7);
        goodGuest.transmit(1, new byte[VnetHeader.SIZE], f);
        try {
            List<Frame> got = VhostUserPortTest.receive(bystander.queue(0), batch, 1);
            assertArrayEquals(f, got.get(0).toBytes());
            got.get(0).release();
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
    }

    /** Lets the hostile guest set up TX ring 1 with {@code attack}, kicks, drains; expects the ring stopped for {@code event}. */
    private void expectTxRingStopped(VhostEvent event, Consumer<FakeGuest> attack) throws Exception {
        attack.accept(guest);
        guest.kick(1);
        long deadline = System.nanoTime() + 2_000_000_000L;
        while (port.count(event) == 0 && System.nanoTime() < deadline) {
            assertEquals(0, port.queue(0).receive(batch), "nothing is forwarded from a broken chain");
            Thread.sleep(2);
        }
        assertEquals(1, port.count(event), () -> event + " counted once: " + port.eventCounts());
        assertEquals("stopped-by-error", port.ringStates().get(1));
        // A stopped ring stays stopped: even a proper frame now is not read.
        guest.transmit(1, new byte[VnetHeader.SIZE], VhostUserPortTest.frame(100, 1));
        assertEquals(0, port.queue(0).receive(batch));
        assertTrue(port.connected(), "a broken ring does not take the connection down");
    }

    private static void chain(FakeGuest g, int headDesc) {
        g.publishAvail(1, headDesc);
    }

    @Test
    void aDescriptorOutsideGuestMemory() throws Exception {
        expectTxRingStopped(VhostEvent.BAD_ADDRESS, g -> {
            g.putDescriptor(1, 0, DECLARED + 4096, 1500, 0, 0); // inside the memfd, outside the region
            chain(g, 0);
        });
    }

    @Test
    void aDescriptorWhoseEndWrapsAroundTheAddressSpace() throws Exception {
        expectTxRingStopped(VhostEvent.BAD_ADDRESS, g -> {
            g.putDescriptor(1, 0, 0xffff_ffff_ffff_ff00L, 0x200, 0, 0);
            chain(g, 0);
        });
    }

    @Test
    void aDescriptorRunningPastTheRegionEnd() throws Exception {
        expectTxRingStopped(VhostEvent.BAD_ADDRESS, g -> {
            g.putDescriptor(1, 0, DECLARED - 100, 0xffff_ffffL, 0, 0);
            chain(g, 0);
        });
    }

    @Test
    void lengthsThatAddUpPastTheLargestFrame() throws Exception {
        expectTxRingStopped(VhostEvent.BAD_LENGTH, g -> {
            g.putDescriptor(1, 0, 0x100000, 60000, SplitVirtqueue.DESC_F_NEXT, 1);
            g.putDescriptor(1, 1, 0x200000, 60000, 0, 0);
            chain(g, 0);
        });
    }

    @Test
    void aChainThatLoops() throws Exception {
        expectTxRingStopped(VhostEvent.CHAIN_TOO_LONG, g -> {
            g.putDescriptor(1, 0, 0x100000, 10, SplitVirtqueue.DESC_F_NEXT, 1);
            g.putDescriptor(1, 1, 0x100000, 10, SplitVirtqueue.DESC_F_NEXT, 0);
            chain(g, 0);
        });
    }

    @Test
    void aChainLongerThanTheRing() throws Exception {
        expectTxRingStopped(VhostEvent.CHAIN_TOO_LONG, g -> {
            for (int d = 0; d < FakeGuest.RING; d++) {
                g.putDescriptor(1, d, 0x100000, 1, SplitVirtqueue.DESC_F_NEXT, (d + 1) % FakeGuest.RING);
            }
            chain(g, 0);
        });
    }

    @Test
    void aNextIndexPastTheTable() throws Exception {
        expectTxRingStopped(VhostEvent.BAD_INDEX, g -> {
            g.putDescriptor(1, 0, 0x100000, 10, SplitVirtqueue.DESC_F_NEXT, 4000);
            chain(g, 0);
        });
    }

    @Test
    void aHeadIndexPastTheRing() throws Exception {
        expectTxRingStopped(VhostEvent.BAD_INDEX, g -> chain(g, 999));
    }

    @Test
    void anAvailIndexThatJumpsByMoreThanTheRing() throws Exception {
        expectTxRingStopped(VhostEvent.AVAIL_JUMP, g -> g.setAvailIndex(1, FakeGuest.RING + 5));
    }

    @Test
    void aWritableDescriptorInATransmitChain() throws Exception {
        expectTxRingStopped(VhostEvent.BAD_DESCRIPTOR, g -> {
            g.putDescriptor(1, 0, 0x100000, 100, SplitVirtqueue.DESC_F_WRITE, 0);
            chain(g, 0);
        });
    }

    @Test
    void anIndirectTableOutsideGuestMemory() throws Exception {
        expectTxRingStopped(VhostEvent.BAD_ADDRESS, g -> {
            g.putDescriptor(1, 0, DECLARED + 64, 16 * 4, SplitVirtqueue.DESC_F_INDIRECT, 0);
            chain(g, 0);
        });
    }

    @Test
    void aNestedIndirectTable() throws Exception {
        expectTxRingStopped(VhostEvent.BAD_DESCRIPTOR, g -> {
            long table = 0x300000;
            g.putDescriptor(1, 0, table, 32, SplitVirtqueue.DESC_F_INDIRECT, 0);
            long at = g.host(table);
            IO.putLong(at, table);
            IO.putInt(at + 8, 32);
            IO.putShort(at + 12, (short) SplitVirtqueue.DESC_F_INDIRECT);
            chain(g, 0);
        });
    }

    @Test
    void anIndirectTableThatWorksIsFollowed() throws Exception {
        long table = 0x300000;
        byte[] f = VhostUserPortTest.frame(200, 3);
        IO.putByteArray(guest.host(0x310000), new byte[VnetHeader.SIZE], 0, VnetHeader.SIZE);
        IO.putByteArray(guest.host(0x320000), f, 0, f.length);
        long at = guest.host(table);
        IO.putLong(at, 0x310000);
        IO.putInt(at + 8, VnetHeader.SIZE);
        IO.putShort(at + 12, (short) SplitVirtqueue.DESC_F_NEXT);
        IO.putShort(at + 14, (short) 1);
        IO.putLong(at + 16, 0x320000);
        IO.putInt(at + 24, f.length);
        IO.putShort(at + 28, (short) 0);
        guest.putDescriptor(1, 0, table, 32, SplitVirtqueue.DESC_F_INDIRECT, 0);
        guest.publishAvail(1, 0);
        guest.kick(1);
        Frame got = VhostUserPortTest.receive(port.queue(0), batch, 1).get(0);
        assertArrayEquals(f, got.toBytes());
        got.release();
    }

    @Test
    void receiveBuffersOutsideGuestMemoryAreNeverWritten() throws Exception {
        guest.putDescriptor(0, 0, DECLARED + 8192, 2048, SplitVirtqueue.DESC_F_WRITE, 0);
        guest.publishAvail(0, 0);
        Frame out = new Frame();
        FragAllocator allocator = new FragAllocator(DirectAddress.INSTANCE);
        allocator.allocate(out, 500);
        out.write(VhostUserPortTest.frame(500, 1), 0, 500);
        out.setOffload(0, 0, 0, 0, 0, 0);
        assertEquals(DropReason.PORT_DOWN.ordinal(), port.queue(0).transmit(out));
        assertEquals(1, port.count(VhostEvent.BAD_ADDRESS));
        assertEquals("stopped-by-error", port.ringStates().get(0));
        assertEquals(DropReason.PORT_DOWN.ordinal(), port.queue(0).transmit(out), "stays stopped");
        assertEquals(0, guest.usedIndex(0));
        out.release();
    }

    @Test
    void aReceiveBufferOutsideGuestMemoryMidBatchStopsTheRingAfterPublishingWhatWasDelivered() throws Exception {
        guest.offerRxBuffers(0, 2, 2048);
        guest.putDescriptor(0, 2, DECLARED + 8192, 2048, SplitVirtqueue.DESC_F_WRITE, 0);
        guest.publishAvail(0, 2);
        guest.offerRxBuffers(0, 2, 2048); // after the bad one: never reached
        FragAllocator allocator = new FragAllocator(DirectAddress.INSTANCE);
        Frame[] frames = new Frame[4];
        for (int i = 0; i < frames.length; i++) {
            frames[i] = new Frame();
            allocator.allocate(frames[i], 200);
            frames[i].write(VhostUserPortTest.frame(200, i), 0, 200);
            frames[i].setOffload(0, 0, 0, 0, 0, 0);
        }
        int[] results = new int[4];
        BatchSink queue = (BatchSink) port.queue(0);
        try {
            queue.transmit(frames, 4, results);
            int sent = FrameSink.SENT;
            int down = DropReason.PORT_DOWN.ordinal();
            assertArrayEquals(new int[] {sent, sent, down, down}, results);
            assertEquals(1, port.count(VhostEvent.BAD_ADDRESS));
            assertEquals("stopped-by-error", port.ringStates().get(0));
            assertEquals(2, guest.usedIndex(0), "the two frames delivered before the break are published");
            assertEquals(1, guest.calls(0), "and signalled, once");
            List<byte[]> used = guest.takeUsed(0);
            assertArrayEquals(VhostUserPortTest.frame(200, 1), Arrays.copyOfRange(used.get(1), VnetHeader.SIZE, used.get(1).length));

            queue.transmit(frames, 4, results);
            assertArrayEquals(new int[] {down, down, down, down}, results, "stays stopped");
            assertEquals(2, guest.usedIndex(0), "nothing published twice");
            assertEquals(0, guest.calls(0));
            assertEquals(1, port.count(VhostEvent.BAD_ADDRESS));
        } finally {
            for (Frame f : frames) {
                f.release();
            }
        }
    }

    @Test
    void aReadOnlyReceiveBuffer() throws Exception {
        guest.putDescriptor(0, 0, 0x100000, 2048, 0, 0);
        guest.publishAvail(0, 0);
        Frame out = new Frame();
        new FragAllocator(DirectAddress.INSTANCE).allocate(out, 100);
        out.setOffload(0, 0, 0, 0, 0, 0);
        assertEquals(DropReason.PORT_DOWN.ordinal(), port.queue(0).transmit(out));
        assertEquals(1, port.count(VhostEvent.BAD_DESCRIPTOR));
        out.release();
    }

    @Test
    void overlappingMemoryRegionsResetTheConnection() throws Exception {
        guest.setMemTable(new long[][] {{0, 4 << 20, FakeGuest.USER_BASE, 0}, {2 << 20, 4 << 20, FakeGuest.USER_BASE + (8 << 20), 0}},
                new int[] {guest.memfd, guest.memfd});
        VhostUserPortTest.until(() -> !port.connected(), "the connection reset");
        assertEquals(1, port.count(VhostEvent.OVERLAPPING_REGIONS));
        assertEquals(1, port.count(VhostEvent.DISCONNECTED));
    }

    @Test
    void ringAddressesOutsideGuestMemoryResetTheConnection() throws Exception {
        guest.setRingAddresses(1, FakeGuest.USER_BASE + DECLARED - 16, FakeGuest.USER_BASE + FakeGuest.usedGpa(1),
                FakeGuest.USER_BASE + FakeGuest.availGpa(1));
        VhostUserPortTest.until(() -> !port.connected(), "the connection reset");
        assertEquals(1, port.count(VhostEvent.BAD_RING));
    }

    @Test
    void aMemoryTableWithMoreDescriptorsThanRegionsResetsTheConnection() throws Exception {
        guest.setMemTable(new long[][] {{0, 4 << 20, FakeGuest.USER_BASE, 0}}, new int[] {guest.memfd, guest.memfd});
        VhostUserPortTest.until(() -> !port.connected(), "the connection reset");
        assertEquals(1, port.count(VhostEvent.BAD_MEMORY_TABLE));
    }

    @Test
    void aMemoryTableLargerThanItsFileResetsTheConnection() throws Exception {
        // Mapping 32 MiB of a 16 MiB memfd succeeds; the first ring access past 16 MiB would raise SIGBUS.
        guest.setMemTable(new long[][] {{0, 2 * FakeGuest.MEMORY, FakeGuest.USER_BASE, 0}}, new int[] {guest.memfd});
        VhostUserPortTest.until(() -> !port.connected(), "the connection reset");
        assertEquals(1, port.count(VhostEvent.BAD_MEMORY_TABLE));
    }

    @Test
    void aMalformedHeaderResetsTheConnection() throws Exception {
        guest.requestRaw(VhostRequest.SET_FEATURES.code, VhostMessage.VERSION, new long[] {1, 2}, new int[0], false);
        VhostUserPortTest.until(() -> !port.connected(), "the connection reset");
        assertEquals(1, port.count(VhostEvent.BAD_MESSAGE));
    }

    @Test
    void aWellBehavedGuestOnTheSameSetUpIsForwarded() throws Exception {
        // Control: the same set-up with a proper chain forwards it, so the tests above fail for their own reason.
        byte[] f = VhostUserPortTest.frame(100, 2);
        guest.transmit(1, new byte[VnetHeader.SIZE], f);
        Frame got = VhostUserPortTest.receive(port.queue(0), batch, 1).get(0);
        assertArrayEquals(f, got.toBytes());
        got.release();
        assertEquals(List.of("connected"), new ArrayList<>(port.eventCounts().keySet()));
        assertEquals(List.of("running", "running"), port.ringStates());
    }
}
