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
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Allocate and release one frame buffer of 64, 512 and 1500 bytes: the per-queue fragment allocator
 * against a fresh direct ByteBuffer per frame and Netty's pooled direct allocator. Each variant
 * writes the frame's first byte so the memory is really handed out.
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

    private FragAllocator fragments;
    private Frame frame;
    private PooledByteBufAllocator netty;

    @Setup
    public void setUp() {
        fragments = new FragAllocator(NativeAddress.NONE);
        frame = new Frame();
        netty = PooledByteBufAllocator.DEFAULT;
    }

    @Benchmark
    public int fragAllocator() {
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
    public int nettyPooledDirect() {
        ByteBuf b = netty.directBuffer(size + FragAllocator.HEADROOM);
        b.setByte(FragAllocator.HEADROOM, 1);
        int cap = b.capacity();
        b.release();
        return cap;
    }
}
