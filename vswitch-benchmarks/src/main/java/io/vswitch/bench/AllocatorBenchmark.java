package io.vswitch.bench;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.alloc.NativeAddress;
import io.vswitch.core.frame.Frame;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Frame buffers of 64, 512 and 1500 bytes from the per-queue fragment allocator, against a fresh
 * direct ByteBuffer per frame and Netty's pooled direct allocator. Each variant writes the frame's
 * first byte so the memory is really handed out.
 *
 * <ul>
 *   <li>{@code *One}: one buffer allocated and released per call (for the fragment allocator the
 *       chunk resets every call: its best case);
 *   <li>{@code *Batch}: a receive batch of 64 allocated, then all 64 released, as a datapath turn;
 *   <li>{@code fragAllocatorHeld}: the same batches, but each batch's frames are released only after
 *       the next two batches were allocated (frames held across batches, as by a slow output), so
 *       chunks are pinned by survivors and the allocator must move on to others.
 * </ul>
 * Batch variants report time per frame ({@code @OperationsPerInvocation(64)}).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class AllocatorBenchmark {
    @Param({"64", "512", "1500"})
    int size;

    private static final int BATCH = 64;

    private FragAllocator fragments;
    private FragAllocator heldFragments;
    private Frame frame;
    private Frame[][] batches;
    private int turn;
    private ByteBuf[] nettyBatch;
    private PooledByteBufAllocator netty;

    @Setup
    public void setUp() {
        fragments = new FragAllocator(NativeAddress.NONE);
        heldFragments = new FragAllocator(NativeAddress.NONE);
        frame = new Frame();
        batches = new Frame[3][BATCH];
        for (Frame[] batch : batches) {
            for (int i = 0; i < BATCH; i++) {
                batch[i] = new Frame();
            }
        }
        nettyBatch = new ByteBuf[BATCH];
        netty = PooledByteBufAllocator.DEFAULT;
    }

    @Benchmark
    public int fragAllocatorOne() {
        Frame f = frame;
        fragments.allocate(f, size);
        f.putU8(0, 1);
        int start = f.start();
        f.release();
        return start;
    }

    @Benchmark
    public int allocateDirect() {
        ByteBuffer b = ByteBuffer.allocateDirect(size + FragAllocator.HEADROOM);
        b.put(FragAllocator.HEADROOM, (byte) 1);
        return b.capacity();
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public int fragAllocatorBatch() {
        Frame[] frames = batches[0];
        int sum = 0;
        for (Frame f : frames) {
            fragments.allocate(f, size);
            f.putU8(0, 1);
            sum += f.start();
        }
        for (Frame f : frames) {
            f.release();
        }
        return sum;
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public int fragAllocatorHeld() {
        // Allocate into the oldest batch's slots after releasing it: two younger batches stay held.
        int oldest = turn;
        turn = oldest + 1 == batches.length ? 0 : oldest + 1;
        Frame[] frames = batches[oldest];
        int sum = 0;
        for (Frame f : frames) {
            if (f.attached()) {
                f.release();
            }
            if (heldFragments.allocate(f, size)) {
                f.putU8(0, 1);
                sum += f.start();
            }
        }
        return sum;
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public int nettyPooledBatch() {
        ByteBuf[] bufs = nettyBatch;
        int sum = 0;
        for (int i = 0; i < bufs.length; i++) {
            ByteBuf b = netty.directBuffer(size + FragAllocator.HEADROOM);
            b.setByte(FragAllocator.HEADROOM, 1);
            sum += b.capacity();
            bufs[i] = b;
        }
        for (ByteBuf b : bufs) {
            b.release();
        }
        return sum;
    }

    @Benchmark
    public int nettyPooledDirect() {
        ByteBuf b = netty.directBuffer(size + FragAllocator.HEADROOM);
        b.setByte(FragAllocator.HEADROOM, 1);
        int cap = b.capacity();
        b.release();
        return cap;
    }
}
