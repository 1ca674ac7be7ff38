package io.vswitch.system;

import com.kenai.jffi.MemoryIO;
import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.frame.VnetHeader;
import io.vswitch.core.port.FrameSink;
import io.vswitch.linux.DirectAddress;
import io.vswitch.linux.IpCommand;
import io.vswitch.linux.LibC;
import io.vswitch.linux.NativeBuffer;
import io.vswitch.linux.NetDevice;
import io.vswitch.linux.PidTaggedLinks;
import java.io.IOException;
import java.lang.invoke.VarHandle;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * How a system port should read and write its AF_PACKET sockets, measured on a real veth pair (needs
 * root): CPU time per 60-byte frame of each variant, on one thread, so the choice in
 * {@link PacketReceiver} and {@link PacketTransmitter} rests on numbers. In package
 * {@code io.vswitch.system} to set the sockets up with the port's own {@link PacketSocket}, so the
 * variants differ only in the calls that move frames. Receive and transmit have their own states
 * ({@link Rx}, {@link Tx}), so each runs only over its own variants.
 *
 * <p><b>Receive</b> ({@link #receive}): before each invocation {@value #FRAMES} frames are written into
 * the far end of the veth and left to queue up; the invocation drains them into fragments of a
 * {@link FragAllocator} with virtio-net headers, as the data path does:
 * <ul>
 * <li>{@code queue}: the port's queue as shipped: its TPACKET_V2 ring, each frame copied into an
 * exactly sized fragment (plus tag restore); before the ring, one recvmsg per frame;</li>
 * <li>{@code recvmmsg}: 64 fragments reserved, one recvmmsg for up to 64 frames;</li>
 * <li>{@code v3-ring}: a TPACKET_V3 memory-mapped ring, walked block by block, each frame copied into an
 * exactly sized fragment (no syscall per frame or per batch at all).</li>
 * </ul>
 *
 * <p><b>Transmit</b> ({@link #transmit}), {@value #BATCH} distinct frames per invocation out of the
 * port end: {@code writev-bypass} (the port's queue as shipped for a single frame,
 * {@code transmit(frame)}: one writev each, PACKET_QDISC_BYPASS), {@code writev-qdisc} (the same through
 * the device's qdisc) and {@code batch-N} (the queue as shipped for a batch, the {@code BatchSink} call
 * the bridge's deferred transmit makes: {@code transmit(frames, N, results)}, one sendmmsg of N
 * frames, {@value #BATCH}/N calls per invocation).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class PacketPathBenchmark {
    static final int FRAMES = 1024;
    private static final int BATCH = 64;
    private static final int FRAME_LENGTH = 60;
    private static final LibC LIBC = LibC.INSTANCE;
    private static final MemoryIO MEMORY = MemoryIO.getInstance();
    /** The benchmark's veth ends: these prefixes, then the fork's PID ({@link PidTaggedLinks}). */
    private static final String PORT_PREFIX = "vsbp";
    private static final String WIRE_PREFIX = "vsbw";
    private static final int MSGHDR = 56;
    private static final int MMSGHDR = 64;

    // TPACKET_V3 (linux/if_packet.h)
    private static final int PACKET_VERSION = 10;
    private static final int PACKET_RX_RING = 5;
    private static final int TPACKET_V3 = 2;
    private static final int BLOCK_SIZE = 1 << 16;
    private static final int BLOCKS = 64;
    private static final int TP_STATUS_USER = 1;

    @Benchmark
    @OperationsPerInvocation(FRAMES)
    public int receive(Rx state) {
        return state.drain();
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public int transmit(Tx state) {
        return state.send();
    }

    /**
     * A veth pair made for one trial, with a system port (one queue) on one end and a raw packet socket
     * on the other standing in for the wire.
     */
    static final class Veth implements AutoCloseable {
        final String portSide;
        final String wireSide;
        final SystemPort port;
        final SystemQueue queue;
        final int wire;

        Veth() throws IOException {
            // A fork that ended without its tear-down (killed, timed out) left its pair behind.
            PidTaggedLinks.removeStale(PORT_PREFIX, WIRE_PREFIX);
            String id = PidTaggedLinks.nextId();
            portSide = PORT_PREFIX + id;
            wireSide = WIRE_PREFIX + id;
            IpCommand.run(null, "link", "add", "name", portSide, "type", "veth", "peer", "name", wireSide);
            IpCommand.run(null, "link", "set", "dev", portSide, "up");
            IpCommand.run(null, "link", "set", "dev", wireSide, "up");
            port = SystemPort.open(portSide, 1);
            queue = port.queue(0);
            wire = wireSocket(wireSide);
        }

        /** Another packet socket on the port end, bound as the port's own are. */
        int portSocket() throws IOException {
            int fd = PacketSocket.open(portSide);
            PacketSocket.bind(fd, NetDevice.ifindex(portSide), portSide);
            return fd;
        }

        @Override
        public void close() throws IOException {
            port.close();
            LIBC.close(wire);
            IpCommand.run(null, "link", "del", "dev", portSide);
        }
    }

    /** The receive variants (see the class doc) on their own veth pair. */
    @State(Scope.Thread)
    public static class Rx {
        @Param({"queue", "recvmmsg", "v3-ring"})
        public String rx;

        private Veth veth;
        private int rxFd = -1;
        private final FragAllocator allocator = new FragAllocator(DirectAddress.INSTANCE);
        private final FrameBatch batch = new FrameBatch(BATCH);
        private NativeBuffer vector;
        private NativeBuffer wireVector;
        private long ring;
        private int block;

        @Setup(Level.Trial)
        public void setUp() throws IOException {
            veth = new Veth();
            vector = new NativeBuffer((long) BATCH * (MMSGHDR + 2 * 16));
            wireVector = new NativeBuffer((long) BATCH * (MMSGHDR + 16) + FRAME_LENGTH);
            prepareWireFrames();
            if (!rx.equals("queue")) {
                rxFd = veth.portSocket();
                if (rx.equals("v3-ring")) {
                    mapRing();
                }
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() throws IOException {
            if (rxFd >= 0) {
                LIBC.close(rxFd);
            }
            if (ring != 0) {
                LIBC.munmap(ring, (long) BLOCK_SIZE * BLOCKS);
            }
            vector.close();
            wireVector.close();
            veth.close();
        }

        /** Queues {@value #FRAMES} frames toward the port, 64 per sendmmsg, and lets the ring retire its block. */
        @Setup(Level.Invocation)
        public void fill() throws InterruptedException {
            for (int sent = 0; sent < FRAMES; sent += BATCH) {
                LIBC.sendmmsg(veth.wire, wireVector.address(), BATCH, 0);
            }
            Thread.sleep(3);
        }

        int drain() {
            int got = 0;
            long deadline = System.nanoTime() + 1_000_000_000L;
            while (got < FRAMES) {
                int n = switch (rx) {
                    case "queue" -> receiveShipped();
                    case "recvmmsg" -> receiveBatched();
                    default -> receiveRing();
                };
                got += n;
                if (n == 0 && System.nanoTime() > deadline) {
                    throw new IllegalStateException(rx + ": only " + got + " of " + FRAMES + " frames arrived");
                }
            }
            return got;
        }

        private int receiveShipped() {
            int n = veth.queue.receive(batch);
            for (int i = 0; i < batch.count(); i++) {
                batch.get(i).release();
            }
            batch.clear();
            return n;
        }

        private int receiveBatched() {
            long v = vector.address();
            long iovs = v + (long) BATCH * MMSGHDR;
            int reserved = 0;
            Frame frame;
            while ((frame = batch.next()) != null && allocator.reserve(frame)) {
                long m = v + (long) reserved * MMSGHDR;
                long iov = iovs + reserved * 32L;
                MEMORY.putLong(iov, frame.address() - VnetHeader.SIZE);
                MEMORY.putLong(iov + 8, PacketSocket.VNET_HEADER_SIZE);
                MEMORY.putLong(iov + 16, frame.address());
                MEMORY.putLong(iov + 24, frame.capacity());
                MEMORY.setMemory(m, MMSGHDR, (byte) 0);
                MEMORY.putLong(m + 16, iov);
                MEMORY.putLong(m + 24, 2);
                batch.commit();
                reserved++;
            }
            int n = Math.max(LIBC.recvmmsg(rxFd, v, reserved, LibC.MSG_DONTWAIT, 0), 0);
            for (int i = 0; i < reserved; i++) {
                Frame f = batch.get(i);
                if (i < n) {
                    int read = MEMORY.getInt(v + (long) i * MMSGHDR + MSGHDR);
                    allocator.completeRead(f, VnetHeader.SIZE, read + 2, null);
                    f.loadVnetHeader();
                }
            }
            for (int i = reserved - 1; i >= 0; i--) {
                Frame f = batch.get(i);
                if (i >= n) {
                    allocator.cancel(f);
                } else {
                    f.release();
                }
            }
            batch.clear();
            return n;
        }

        private int receiveRing() {
            long b = ring + (long) block * BLOCK_SIZE;
            VarHandle.fullFence(); // the kernel writes the block status; read it fresh every time
            if ((MEMORY.getInt(b + 8) & TP_STATUS_USER) == 0) {
                return 0;
            }
            int packets = MEMORY.getInt(b + 12);
            long hdr = b + MEMORY.getInt(b + 16);
            for (int i = 0; i < packets; i++) {
                int snaplen = MEMORY.getInt(hdr + 12);
                int mac = MEMORY.getShort(hdr + 24) & 0xffff;
                Frame f = batch.next();
                allocator.allocate(f, snaplen);
                MEMORY.copyMemory(hdr + mac - PacketSocket.VNET_HEADER_SIZE, f.address() - VnetHeader.SIZE,
                        PacketSocket.VNET_HEADER_SIZE);
                MEMORY.copyMemory(hdr + mac, f.address(), snaplen);
                f.loadVnetHeader();
                f.release();
                hdr += MEMORY.getInt(hdr);
            }
            VarHandle.fullFence(); // done with the frames before the kernel may overwrite them
            MEMORY.putInt(b + 8, 0);
            block = (block + 1) % BLOCKS;
            return packets;
        }

        private void mapRing() throws IOException {
            setInt(rxFd, PACKET_VERSION, TPACKET_V3);
            try (NativeBuffer req = new NativeBuffer(28)) {
                req.putInt(0, BLOCK_SIZE);
                req.putInt(4, BLOCKS);
                req.putInt(8, 2048);
                req.putInt(12, BLOCK_SIZE / 2048 * BLOCKS);
                req.putInt(16, 1); // retire a partly filled block after 1 ms
                if (LIBC.setsockopt(rxFd, PacketSocket.SOL_PACKET, PACKET_RX_RING, req.address(), 28) < 0) {
                    throw new IOException("PACKET_RX_RING errno " + LibC.errno());
                }
            }
            ring = LIBC.mmap(null, (long) BLOCK_SIZE * BLOCKS, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_SHARED, rxFd, 0)
                    .address();
            if (ring == -1) {
                throw new IOException("mmap of the ring: errno " + LibC.errno());
            }
        }

        /** 64 mmsghdrs that all send the same 60-byte frame (no vnet header on the wire socket). */
        private void prepareWireFrames() {
            long v = wireVector.address();
            long iovs = v + (long) BATCH * MMSGHDR;
            long data = iovs + BATCH * 16L;
            byte[] f = wireFrame();
            wireVector.put(data - v, f, 0, f.length);
            for (int i = 0; i < BATCH; i++) {
                long m = v + (long) i * MMSGHDR;
                long iov = iovs + i * 16L;
                MEMORY.putLong(iov, data);
                MEMORY.putLong(iov + 8, FRAME_LENGTH);
                MEMORY.putLong(m + 16, iov);
                MEMORY.putLong(m + 24, 1);
            }
        }
    }

    /** The transmit variants (see the class doc) on their own veth pair. */
    @State(Scope.Thread)
    public static class Tx {
        @Param({"writev-bypass", "writev-qdisc", "batch-1", "batch-8", "batch-32", "batch-64"})
        public String tx;

        private Veth veth;
        private int qdiscFd = -1;
        private PacketTransmitter qdiscTransmitter;
        private final FragAllocator allocator = new FragAllocator(DirectAddress.INSTANCE);
        private final Frame[] frames = new Frame[BATCH];
        /** The batch variants: {@link #frames} cut into the batches of one call each; null for the others. */
        private Frame[][] calls;
        private final int[] results = new int[BATCH];

        @Setup(Level.Trial)
        public void setUp() throws IOException {
            veth = new Veth();
            if (tx.equals("writev-qdisc")) {
                qdiscFd = veth.portSocket();
                setInt(qdiscFd, PacketSocket.PACKET_QDISC_BYPASS, 0);
                qdiscTransmitter = new PacketTransmitter(null, qdiscFd);
            }
            byte[] bytes = wireFrame();
            for (int i = 0; i < BATCH; i++) {
                frames[i] = new Frame();
                allocator.allocate(frames[i], FRAME_LENGTH);
                frames[i].write(bytes, 0, FRAME_LENGTH);
            }
            if (tx.startsWith("batch-")) {
                int perCall = Integer.parseInt(tx.substring("batch-".length()));
                if (perCall < 1 || BATCH % perCall != 0) {
                    throw new IllegalArgumentException(tx + ": a batch must divide " + BATCH);
                }
                calls = new Frame[BATCH / perCall][perCall];
                for (int i = 0; i < BATCH; i++) {
                    calls[i / perCall][i % perCall] = frames[i];
                }
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() throws IOException {
            for (Frame f : frames) {
                f.release();
            }
            if (qdiscFd >= 0) {
                LIBC.close(qdiscFd);
            }
            veth.close();
        }

        int send() {
            int sent = 0;
            if (calls != null) {
                for (Frame[] call : calls) {
                    veth.queue.transmit(call, call.length, results);
                    for (int i = 0; i < call.length; i++) {
                        sent += results[i] == FrameSink.SENT ? 1 : 0;
                    }
                }
                return sent;
            }
            for (int i = 0; i < BATCH; i++) {
                int r = qdiscTransmitter == null ? veth.queue.transmit(frames[i]) : qdiscTransmitter.transmit(frames[i]);
                sent += r == FrameSink.SENT ? 1 : 0;
            }
            return sent;
        }
    }

    private static void setInt(int fd, int option, int value) throws IOException {
        try (NativeBuffer v = new NativeBuffer(4)) {
            v.putInt(0, value);
            if (LIBC.setsockopt(fd, PacketSocket.SOL_PACKET, option, v.address(), 4) < 0) {
                throw new IOException("setsockopt " + option + ": errno " + LibC.errno());
            }
        }
    }

    private static int wireSocket(String wireSide) throws IOException {
        int fd = LIBC.socket(LibC.AF_PACKET, LibC.SOCK_RAW | LibC.SOCK_CLOEXEC, 0);
        try (NativeBuffer sll = new NativeBuffer(20)) {
            sll.putShort(0, (short) LibC.AF_PACKET);
            sll.putInt(4, NetDevice.ifindex(wireSide));
            if (fd < 0 || LIBC.bind(fd, sll.address(), 20) < 0) {
                throw new IOException("wire socket: errno " + LibC.errno());
            }
        }
        try (NativeBuffer v = new NativeBuffer(4)) {
            v.putInt(0, 8 << 20);
            LIBC.setsockopt(fd, LibC.SOL_SOCKET, LibC.SO_SNDBUFFORCE, v.address(), 4);
        }
        return fd;
    }

    private static byte[] wireFrame() {
        byte[] f = new byte[FRAME_LENGTH];
        byte[] head = {2, 0, 0x5e, 0x30, 0, 1, 2, 0, 0x5e, 0x30, 0, 2, (byte) 0x88, (byte) 0xb5};
        System.arraycopy(head, 0, f, 0, head.length);
        return f;
    }
}
