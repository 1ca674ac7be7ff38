package io.vswitch.vm.vhost;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.kenai.jffi.MemoryIO;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.frame.VnetHeader;
import io.vswitch.linux.LibC;
import io.vswitch.linux.NativeBuffer;
import io.vswitch.linux.SharedMemory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Seeded mutation fuzzing of the two places a guest or front-end controls: the message decoder (with
 * the device behind it) and the ring walker. Seeded so a failure replays; the seed is printed.
 *
 * <p>Why not Jazzer: it is not in the offline Maven repository here, and its JUnit integration only
 * replays a corpus unless {@code JAZZER_FUZZ=1} (fuzzing one test per run), so in CI it would add a
 * corpus replay, which these seeded runs already are, over many more inputs per run.
 */
class VhostFuzzTest {
    private static final long SEED = Long.getLong("vhost.fuzz.seed", 20261201L);
    private static final MemoryIO IO = MemoryIO.getInstance();

    /**
     * Valid QEMU set-up messages, mutated (bit flips, sizes, request codes, truncation, extra or missing
     * descriptors): the back-end answers or resets the connection, counts it, and keeps serving.
     */
    @Test
    void mutatedMessagesNeverCrashTheBackEndAndEveryResetIsCounted() throws Exception {
        Random random = new Random(SEED);
        System.out.println("message fuzz seed " + SEED);
        Path dir = Files.createTempDirectory("vswfuzz-");
        try (VhostUserPort port = VhostUserPort.open("fz", dir.resolve("f.sock"), VhostUserPort.Mode.SERVER, 2, null, null)) {
            int rounds = 150;
            for (int round = 0; round < rounds; round++) {
                try (FakeGuest g = new FakeGuest(port.socketPath(), 2)) {
                    int extraFd = LibC.INSTANCE.eventfd(0, LibC.EFD_CLOEXEC);
                    try {
                        if (random.nextBoolean()) {
                            g.start(FakeGuest.FEATURES); // mutate a configured device, or a fresh one
                        }
                        for (int m = 0; m < 20; m++) {
                            byte[] message = mutate(random, validMessage(random, g));
                            int[] fds = switch (random.nextInt(4)) {
                                case 0 -> new int[0];
                                case 1 -> new int[] {extraFd};
                                case 2 -> new int[] {g.memfd};
                                default -> new int[] {g.memfd, extraFd, g.kick[0]};
                            };
                            if (g.sendBytes(message, fds) < 0) {
                                break; // the back-end reset the connection
                            }
                        }
                    } finally {
                        LibC.INSTANCE.close(extraFd);
                    }
                }
                long deadline = System.nanoTime() + 2_000_000_000L;
                while (port.connected() && System.nanoTime() < deadline) {
                    Thread.sleep(1);
                }
            }
            VhostUserPortTest.until(() -> port.count(VhostEvent.DISCONNECTED) == rounds, "every connection to be counted closed");
            assertEquals(rounds, port.count(VhostEvent.CONNECTED));
            System.out.println("events after message fuzzing: " + port.eventCounts());
            assertTrue(port.count(VhostEvent.BAD_MESSAGE) > 0, "the mutations did reach the decoder");

            // The back-end still serves a proper front-end afterwards.
            try (FakeGuest g = new FakeGuest(port.socketPath(), 2)) {
                g.start(FakeGuest.FEATURES);
                VhostUserPortTest.until(port::linkUp, "a proper front-end after the fuzzing");
                byte[] f = VhostUserPortTest.frame(300, 4);
                g.transmit(1, new byte[VnetHeader.SIZE], f);
                List<Frame> got = VhostUserPortTest.receive(port.queue(0), new FrameBatch(8), 1);
                assertArrayEquals(f, got.get(0).toBytes());
                got.get(0).release();
            }
        } finally {
            try (var files = Files.list(dir)) {
                for (Path p : files.toList()) {
                    Files.deleteIfExists(p);
                }
            }
            Files.deleteIfExists(dir);
        }
    }

    private static byte[] validMessage(Random random, FakeGuest g) {
        VhostRequest[] all = VhostRequest.values();
        VhostRequest r = all[random.nextInt(all.length)];
        int payload = switch (r.payload) {
            case NONE -> 0;
            case U64, STATE -> 8;
            case ADDRESS -> 40;
            case MEMORY -> 8 + 32;
            case ANY -> random.nextInt(64);
        };
        ByteBuffer b = ByteBuffer.allocate(VhostMessage.HEADER + payload).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(r.code).putInt(VhostMessage.VERSION | (random.nextBoolean() ? VhostMessage.FLAG_NEED_REPLY : 0)).putInt(payload);
        if (r == VhostRequest.SET_MEM_TABLE) {
            b.putInt(1).putInt(0).putLong(0).putLong(FakeGuest.MEMORY).putLong(FakeGuest.USER_BASE).putLong(0);
        } else if (r == VhostRequest.SET_VRING_ADDR) {
            int ring = random.nextInt(4);
            b.putInt(ring).putInt(0).putLong(FakeGuest.USER_BASE + FakeGuest.descGpa(ring))
                    .putLong(FakeGuest.USER_BASE + FakeGuest.usedGpa(ring)).putLong(FakeGuest.USER_BASE + FakeGuest.availGpa(ring))
                    .putLong(0);
        } else {
            while (b.hasRemaining()) {
                b.put((byte) (random.nextInt(4) == 0 ? random.nextInt(256) : random.nextInt(5)));
            }
        }
        return b.array();
    }

    private static byte[] mutate(Random random, byte[] message) {
        byte[] out = message.clone();
        switch (random.nextInt(6)) {
            case 0 -> out[random.nextInt(out.length)] ^= (byte) (1 << random.nextInt(8));
            case 1 -> ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN).putInt(8, random.nextInt());
            case 2 -> ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN).putInt(0, random.nextInt(80));
            case 3 -> ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN).putInt(4, random.nextInt(16));
            case 4 -> {
                if (out.length > VhostMessage.HEADER) {
                    int at = VhostMessage.HEADER + random.nextInt(out.length - VhostMessage.HEADER);
                    out[at] = (byte) random.nextInt(256);
                }
            }
            default -> {
                // unchanged: a valid message in a random order
            }
        }
        return out;
    }

    /**
     * Random descriptor tables and avail rings (in the declared half of a memfd whose other half holds a
     * canary) walked for TX and for RX: nothing outside is read into a frame or written, and every
     * stop is counted.
     */
    @Test
    void randomRingsNeverLeaveGuestMemory() throws Exception {
        Random random = new Random(SEED + 1);
        System.out.println("ring fuzz seed " + SEED);
        long declared = 1L << 20;
        int fd = SharedMemory.createMemfd("ring-fuzz", 2 * declared);
        VhostCounters counters = new VhostCounters();
        try (SharedMemory mem = SharedMemory.map(fd, 2 * declared);
             NativeBuffer sink = new NativeBuffer(VhostQueue.MAX_TX_CHAIN + 64);
             NativeBuffer frame = new NativeBuffer(70000)) {
            long canary = mem.address() + declared;
            for (long off = 0; off < declared; off += 8) {
                IO.putLong(canary + off, ~off);
            }
            long user = 0x7f00_0000_0000L;
            int ringSize = 64;
            long desc = 0x1000;
            long avail = 0x2000;
            long used = 0x3000;
            int forwarded = 0;
            for (int round = 0; round < 3000; round++) {
                GuestMemory memory = GuestMemory.map(new long[] {0}, new long[] {declared}, new long[] {user}, new long[] {0},
                        new int[] {fd});
                SplitVirtqueue ring = new SplitVirtqueue(round % 2, counters);
                try {
                    ring.setMemory(memory);
                    ring.setSize(ringSize);
                    ring.setBase(0);
                    ring.setAddresses(user + desc, user + used, user + avail);
                    ring.setFeatures(random.nextBoolean(), random.nextBoolean());
                    ring.setEnabled(true);
                    ring.setKick(-1);
                    randomRing(random, mem.address(), desc, avail, ringSize, declared);
                    boolean writable = random.nextBoolean();
                    synchronized (ring) {
                        for (int i = 0; i < 8; i++) {
                            if (writable) {
                                if (!ring.deliver(frame.address(), 12 + random.nextInt(60000), random.nextBoolean(), 1 << 20)) {
                                    break;
                                }
                            } else {
                                int before = ring.usedIndex();
                                int n = ring.nextChain(false, VhostQueue.MAX_TX_CHAIN);
                                if (n < 0) {
                                    break;
                                }
                                ring.copyChainTo(sink.address());
                                ring.consumeChain(0);
                                ring.publish(before);
                                forwarded++;
                            }
                        }
                    }
                } finally {
                    ring.close();
                    memory.close();
                }
            }
            for (long off = 0; off < declared; off += 8) {
                assertEquals(~off, IO.getLong(canary + off), "memory outside the region changed at " + off);
            }
            System.out.println("ring fuzz: " + forwarded + " chains taken, events " + counters.nonZero());
            assertTrue(counters.get(VhostEvent.BAD_ADDRESS) > 0 && counters.get(VhostEvent.BAD_INDEX) > 0,
                    "the random rings did hit the checks: " + counters.nonZero());
        } finally {
            LibC.INSTANCE.close(fd);
        }
    }

    /** Fills the descriptor table and avail ring with plausible-to-hostile values. */
    private static void randomRing(Random random, long base, long desc, long avail, int size, long declared) {
        for (int d = 0; d < size; d++) {
            long at = base + desc + 16L * d;
            long address = switch (random.nextInt(5)) {
                case 0 -> random.nextLong();
                case 1 -> declared - random.nextInt(4096);
                default -> 0x10000 + random.nextInt(0x80000);
            };
            long length = switch (random.nextInt(5)) {
                case 0 -> random.nextInt() & 0xffffffffL;
                case 1 -> 16L * random.nextInt(8);
                default -> random.nextInt(3000);
            };
            int flags = random.nextInt(8);
            int next = random.nextInt(4) == 0 ? random.nextInt(65536) : random.nextInt(size);
            IO.putLong(at, address);
            IO.putInt(at + 8, (int) length);
            IO.putShort(at + 12, (short) flags);
            IO.putShort(at + 14, (short) next);
        }
        for (int i = 0; i < size; i++) {
            IO.putShort(base + avail + 4 + 2L * i, (short) (random.nextInt(8) == 0 ? random.nextInt(65536) : random.nextInt(size)));
        }
        IO.putShort(base + avail, (short) random.nextInt(2));
        IO.putShort(base + avail + 2, (short) (random.nextInt(8) == 0 ? random.nextInt(65536) : random.nextInt(size)));
        IO.putShort(base + avail + 4 + 2L * size, (short) random.nextInt(65536));
    }
}
