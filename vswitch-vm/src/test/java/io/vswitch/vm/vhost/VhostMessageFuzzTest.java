package io.vswitch.vm.vhost;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.frame.VnetHeader;
import io.vswitch.linux.DirectAddress;
import io.vswitch.linux.LibC;
import io.vswitch.linux.NativeBuffer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * Coverage-guided fuzzing (Jazzer) of the vhost-user control channel: a front-end that sends any
 * sequence of messages (known requests with plausible or hostile payloads, unknown requests, bad
 * headers and sizes, with or without descriptors) to a real {@link VhostUserPort} over its unix
 * socket, through {@link VhostConnector}'s decoder and the {@link VhostDevice} state machine, then
 * optionally drives the data path over whatever rings and memory table that left configured.
 *
 * <p>Per input: the back-end either still answers (a GET_FEATURES probe sent last is answered, and no
 * reset was counted) or it reset the connection with exactly one counted reason; it never dies or
 * hangs, every connection is counted closed, and a proper front-end connecting afterwards gets a
 * working port (a frame it sends arrives intact).
 */
class VhostMessageFuzzTest {
    private static final VhostEvent[] RESETS = {VhostEvent.BAD_MESSAGE, VhostEvent.BAD_MEMORY_TABLE,
        VhostEvent.OVERLAPPING_REGIONS, VhostEvent.BAD_RING};
    private static final VhostRequest[] REQUESTS = VhostRequest.values();

    private static Path dir;
    private static VhostUserPort port;
    private static NativeBuffer reply;
    private static final FrameBatch BATCH = new FrameBatch(8);
    private static final FragAllocator ALLOCATOR = new FragAllocator(DirectAddress.INSTANCE);

    @BeforeAll
    static void openPort() throws Exception {
        dir = Files.createTempDirectory("vswfuzz-");
        port = VhostUserPort.open("fz", dir.resolve("f.sock"), VhostUserPort.Mode.SERVER, 2, null, null);
        reply = new NativeBuffer(VhostMessage.HEADER + VhostMessage.MAX_PAYLOAD);
    }

    @AfterAll
    static void closePort() throws Exception {
        port.close();
        reply.close();
        try (var files = Files.list(dir)) {
            for (Path p : files.toList()) {
                Files.deleteIfExists(p);
            }
        }
        Files.deleteIfExists(dir);
    }

    @FuzzTest(maxDuration = "30s")
    void anyMessagesLeaveTheBackEndServingOrResetAndCounted(FuzzedDataProvider data) throws Exception {
        long resetsBefore = resets();
        long connections = port.count(VhostEvent.CONNECTED);
        boolean alive;
        try (FakeGuest g = new FakeGuest(port.socketPath(), 2)) {
            int eventFd = LibC.INSTANCE.eventfd(0, LibC.EFD_CLOEXEC);
            try {
                if (data.consumeBoolean()) {
                    g.start(FakeGuest.FEATURES); // mutate a configured device, or a fresh one
                }
                int messages = data.consumeInt(1, 8);
                for (int m = 0; m < messages && data.remainingBytes() > 0; m++) {
                    int[] fds = switch (data.consumeInt(0, 4)) {
                        case 0 -> new int[] {g.memfd};
                        case 1 -> new int[] {eventFd};
                        case 2 -> new int[] {g.memfd, eventFd};
                        case 3 -> new int[] {g.kick[data.consumeInt(0, 3)]};
                        default -> new int[0];
                    };
                    g.sendBytes(message(data), fds);
                }
                if (data.consumeBoolean()) {
                    runDataPath();
                }
                alive = probe(g);
            } finally {
                LibC.INSTANCE.close(eventFd);
            }
        }
        await(() -> port.count(VhostEvent.DISCONNECTED) == connections + 1, "the fuzzed connection counted closed");
        assertEquals(alive ? resetsBefore : resetsBefore + 1, resets(),
                (alive ? "the back-end still answers, so nothing was refused: " : "the back-end reset the connection, once, counted: ")
                        + port.eventCounts());
        assertProperFrontEndServed();
    }

    /** One message: a request (known or not), flags, a payload size and the payload, all from the fuzzer. */
    private static byte[] message(FuzzedDataProvider data) {
        int code = data.consumeBoolean() ? REQUESTS[data.consumeInt(0, REQUESTS.length - 1)].code : data.consumeInt();
        if (code == VhostRequest.GET_FEATURES.code) {
            code = VhostRequest.GET_STATUS.code; // GET_FEATURES is the probe that tells the connection is alive
        }
        VhostRequest known = VhostRequest.of(code);
        int flags = switch (data.consumeInt(0, 3)) {
            case 0 -> data.consumeInt();
            case 1 -> VhostMessage.VERSION | VhostMessage.FLAG_NEED_REPLY;
            default -> VhostMessage.VERSION;
        };
        int natural = known == null || known.payload.size < 0 ? data.consumeInt(0, 64) : known.payload.size;
        if (known == VhostRequest.SET_MEM_TABLE) {
            natural = 8 + VhostMessage.REGION_SIZE * data.consumeInt(0, 3);
        }
        int size = switch (data.consumeInt(0, 7)) {
            case 0 -> data.consumeInt();
            case 1 -> data.consumeInt(0, VhostMessage.MAX_PAYLOAD + 64);
            default -> natural;
        };
        int sent = size >= 0 && size <= VhostMessage.MAX_PAYLOAD ? size : 0; // a refused header is sent alone
        ByteBuffer b = ByteBuffer.allocate(VhostMessage.HEADER + sent).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(code).putInt(flags).putInt(size);
        if (known == VhostRequest.SET_MEM_TABLE && sent >= 8) {
            int regions = (sent - 8) / VhostMessage.REGION_SIZE;
            b.putInt(data.consumeBoolean() ? regions : data.consumeInt()).putInt(0);
            for (int r = 0; r < regions; r++) {
                b.putLong(plausible(data, 0)).putLong(plausible(data, FakeGuest.MEMORY))
                        .putLong(plausible(data, FakeGuest.USER_BASE)).putLong(plausible(data, 0));
            }
        } else if (known == VhostRequest.SET_VRING_ADDR && sent == 40) {
            int ring = data.consumeInt(0, 4);
            b.putInt(ring).putInt(0).putLong(plausible(data, FakeGuest.USER_BASE + FakeGuest.descGpa(ring)))
                    .putLong(plausible(data, FakeGuest.USER_BASE + FakeGuest.usedGpa(ring)))
                    .putLong(plausible(data, FakeGuest.USER_BASE + FakeGuest.availGpa(ring))).putLong(0);
        } else if (sent == 8 && data.consumeBoolean()) {
            b.putInt(data.consumeInt(0, 4)).putInt(data.consumeBoolean() ? 1 << data.consumeInt(0, 16) : data.consumeInt());
        }
        while (b.hasRemaining()) {
            b.put(data.consumeByte());
        }
        return b.array();
    }

    /** {@code typical}, near it (a page or a region off), or anything. */
    private static long plausible(FuzzedDataProvider data, long typical) {
        return switch (data.consumeInt(0, 3)) {
            case 0 -> data.consumeLong();
            case 1 -> typical + (long) data.consumeInt(-4, 4) * FakeGuest.MEMORY / 2;
            case 2 -> typical + data.consumeInt(-8192, 8192);
            default -> typical;
        };
    }

    /** Receives from every queue and sends a frame to each, over whatever the messages configured. */
    private static void runDataPath() {
        for (int q = 0; q < port.queueCount(); q++) {
            int n = port.queue(q).receive(BATCH);
            for (int i = 0; i < n; i++) {
                BATCH.get(i).release();
            }
            BATCH.clear();
            Frame f = new Frame();
            if (ALLOCATOR.allocate(f, 60)) {
                f.buffer().put(f.start(), VhostUserPortTest.frame(60, q));
                port.queue(q).transmit(f);
                f.release();
            }
        }
    }

    /** Sends GET_FEATURES and reads replies until its answer (true) or the end of the connection (false). */
    private static boolean probe(FakeGuest g) {
        byte[] request = ByteBuffer.allocate(VhostMessage.HEADER).order(ByteOrder.LITTLE_ENDIAN)
                .putInt(VhostRequest.GET_FEATURES.code).putInt(VhostMessage.VERSION).putInt(0).array();
        if (g.sendBytes(request, new int[0]) < 0) {
            return false;
        }
        while (true) {
            if (!read(g.fd, reply.address(), VhostMessage.HEADER)) {
                return false;
            }
            int size = reply.getInt(8);
            if (size < 0 || size > VhostMessage.MAX_PAYLOAD || !read(g.fd, reply.address() + VhostMessage.HEADER, size)) {
                throw new AssertionError("a reply with a payload of " + size + " bytes");
            }
            if (reply.getInt(0) == VhostRequest.GET_FEATURES.code) {
                assertEquals(VhostFeatures.OFFERED, reply.getLong(VhostMessage.HEADER), "the probe's answer");
                return true;
            }
        }
    }

    private static boolean read(int fd, long at, int length) {
        int done = 0;
        while (done < length) {
            long n = LibC.INSTANCE.recv(fd, at + done, length - done, 0);
            if (n <= 0) {
                return false;
            }
            done += (int) n;
        }
        return true;
    }

    private static void assertProperFrontEndServed() throws Exception {
        try (FakeGuest g = new FakeGuest(port.socketPath(), 2)) {
            g.start(FakeGuest.FEATURES);
            await(port::linkUp, "a proper front-end's link after the fuzzed one");
            byte[] f = VhostUserPortTest.frame(300, 4);
            g.transmit(1, new byte[VnetHeader.SIZE], f);
            List<Frame> got = VhostUserPortTest.receive(port.queue(0), BATCH, 1);
            assertArrayEquals(f, got.get(0).toBytes());
            got.get(0).release();
        }
        long closed = port.count(VhostEvent.CONNECTED);
        await(() -> port.count(VhostEvent.DISCONNECTED) == closed, "the proper front-end counted closed");
    }

    /** Like {@link VhostUserPortTest#until}, polling finely: this runs two or three times per input. */
    private static void await(BooleanSupplier condition, String what) {
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what + ": " + port.eventCounts());
            }
            LockSupport.parkNanos(50_000);
        }
    }

    private static long resets() {
        long n = 0;
        for (VhostEvent e : RESETS) {
            n += port.count(e);
        }
        return n;
    }
}
