package io.vswitch.core.testing;

import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.alloc.NativeAddress;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.port.BatchSink;
import io.vswitch.core.port.FrameSink;
import io.vswitch.core.port.Offloads;
import io.vswitch.core.port.Port;
import io.vswitch.core.port.PortQueue;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * An in-memory port for tests and benchmarks: frames are injected as byte arrays and transmitted
 * frames are copied out (or only counted, when {@code keep} is false). Not for production use.
 */
public final class MemoryPort implements Port {
    private final String name;
    private final MemoryQueue[] queues;
    private final int offloads;
    private volatile boolean linkUp = true;

    public MemoryPort(String name, int queueCount) {
        this(name, queueCount, Offloads.NONE, true);
    }

    public MemoryPort(String name, int queueCount, int offloads, boolean keep) {
        this(name, queueCount, offloads, keep, 0);
    }

    /**
     * With {@code batchCapacity} > 0 the queues are {@link BatchSink}s taking that many frames per
     * call, each call recorded in {@link MemoryQueue#batchSizes()}.
     */
    public MemoryPort(String name, int queueCount, int offloads, boolean keep, int batchCapacity) {
        this(name, queueCount, offloads, keep, batchCapacity, NativeAddress.NONE);
    }

    /**
     * With {@code addresses} able to resolve direct buffers, received frames are carved from direct
     * memory, so they can go out through a port that hands their address to the kernel.
     */
    public MemoryPort(String name, int queueCount, int offloads, boolean keep, int batchCapacity, NativeAddress addresses) {
        this.name = name;
        this.offloads = offloads;
        this.queues = new MemoryQueue[queueCount];
        for (int i = 0; i < queueCount; i++) {
            queues[i] = batchCapacity > 0 ? new BatchQueue(i, keep, batchCapacity, addresses) : new MemoryQueue(i, keep, addresses);
        }
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String kind() {
        return "memory";
    }

    @Override
    public int queueCount() {
        return queues.length;
    }

    @Override
    public MemoryQueue queue(int index) {
        return queues[index];
    }

    @Override
    public int offloads() {
        return offloads;
    }

    @Override
    public int maxFrameLength() {
        return 1518;
    }

    @Override
    public boolean linkUp() {
        return linkUp;
    }

    public void setLinkUp(boolean up) {
        linkUp = up;
    }

    @Override
    public void close() {
    }

    /** All frames transmitted on any queue, oldest first, and forgets them. */
    public List<Sent> drain() {
        List<Sent> out = new ArrayList<>();
        for (MemoryQueue q : queues) {
            out.addAll(q.sent);
            q.sent.clear();
        }
        return out;
    }

    /** A transmitted frame as it left: bytes plus offload state and queue. */
    public record Sent(int queue, byte[] bytes, int gsoType, int vnetFlags) {
    }

    /** One queue: an injection FIFO on the receive side, a capture list on the transmit side. */
    public class MemoryQueue implements PortQueue {
        private final int index;
        private final boolean keep;
        private final FragAllocator allocator;
        private final ArrayDeque<byte[]> pending = new ArrayDeque<>();
        private final List<Sent> sent = new ArrayList<>();
        private byte[] repeat;
        private long transmitted;
        private int result = FrameSink.SENT;
        private RuntimeException failure;
        /** Frames per batch call, in call order; a single-frame {@link #transmit(Frame)} records 0. */
        private final List<Integer> batchSizes = new ArrayList<>();

        MemoryQueue(int index, boolean keep, NativeAddress addresses) {
            this.index = index;
            this.keep = keep;
            this.allocator = new FragAllocator(addresses);
        }

        public void inject(byte[] frame) {
            pending.add(frame);
        }

        /** Makes every receive fill the whole batch with copies of {@code frame} (benchmarks). */
        public void repeat(byte[] frame) {
            repeat = frame;
        }

        /** Makes transmits fail with {@code dropReason} ordinal, or succeed with {@link FrameSink#SENT}. */
        public void failTransmits(int dropReason) {
            result = dropReason;
        }

        /** Makes every transmit throw {@code e} (null: stop). */
        public void throwOnTransmit(RuntimeException e) {
            failure = e;
        }

        public long transmitted() {
            return transmitted;
        }

        /** Frames per transmit call, oldest first (0 for a single-frame call), and forgets them. */
        public List<Integer> batchSizes() {
            List<Integer> sizes = new ArrayList<>(batchSizes);
            batchSizes.clear();
            return sizes;
        }

        @Override
        public int index() {
            return index;
        }

        @Override
        public int receive(FrameBatch batch) {
            int n = 0;
            Frame frame;
            while ((frame = batch.next()) != null) {
                byte[] bytes = repeat != null ? repeat : pending.poll();
                if (bytes == null) {
                    break;
                }
                if (!allocator.allocate(frame, bytes.length)) {
                    break;
                }
                frame.buffer().put(frame.start(), bytes, 0, bytes.length);
                batch.commit();
                n++;
            }
            return n;
        }

        @Override
        public FragAllocator allocator() {
            return allocator;
        }

        @Override
        public int transmit(Frame frame) {
            recordCall(0);
            return send(frame);
        }

        /** Notes one transmit call of {@code frames} frames (0: a single-frame call) for {@link #batchSizes()}. */
        void recordCall(int frames) {
            if (keep) {
                batchSizes.add(frames);
            }
        }

        int send(Frame frame) {
            if (failure != null) {
                throw failure;
            }
            if (result != FrameSink.SENT) {
                return result;
            }
            transmitted++;
            if (keep) {
                sent.add(new Sent(index, frame.toBytes(), frame.gsoType(), frame.vnetFlags()));
            }
            return FrameSink.SENT;
        }
    }

    /**
     * A queue that is also a {@link BatchSink}. {@link #failFrames} makes the frames at chosen positions
     * of each call fail, as a partial {@code sendmmsg} would.
     */
    public final class BatchQueue extends MemoryQueue implements BatchSink {
        private final int capacity;
        private int failEvery;
        private int failReason;

        BatchQueue(int index, boolean keep, int capacity, NativeAddress addresses) {
            super(index, keep, addresses);
            this.capacity = capacity;
        }

        /** Fails every {@code n}-th frame of each call (positions n-1, 2n-1, ...) with {@code reason}; 0 stops. */
        public void failFrames(int n, int reason) {
            failEvery = n;
            failReason = reason;
        }

        @Override
        public int batchCapacity() {
            return capacity;
        }

        @Override
        public void transmit(Frame[] frames, int count, int[] results) {
            if (count > capacity) {
                throw new AssertionError(count + " frames for a capacity of " + capacity);
            }
            recordCall(count);
            for (int i = 0; i < count; i++) {
                results[i] = failEvery > 0 && (i + 1) % failEvery == 0 ? failReason : send(frames[i]);
            }
        }
    }
}
