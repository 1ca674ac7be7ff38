package io.vswitch.bench;

import io.vswitch.core.alloc.NativeAddress;
import io.vswitch.core.bridge.Bridge;
import io.vswitch.core.bridge.BridgePort;
import io.vswitch.core.bridge.Forwarder;
import io.vswitch.core.bridge.Ingress;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.gso.Segmenter;
import io.vswitch.core.port.Offloads;
import io.vswitch.core.testing.Frames;
import io.vswitch.core.testing.MemoryPort;
import io.vswitch.core.vlan.VlanMembership;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The whole in-process path for a 64-byte frame between two in-memory ports on one thread: receive
 * into fragments, parse, learn, record the flow, look up, select the output queue, transmit,
 * release. Score is frames per second.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class BridgeBenchmark {
    private static final int BATCH = 64;

    private MemoryPort.MemoryQueue rx;
    private Ingress ingress;
    private FrameBatch batch;
    private long now;

    @Setup
    public void setUp() {
        Bridge bridge = new Bridge();
        MemoryPort a = new MemoryPort("a", 2, Offloads.NONE, false);
        MemoryPort b = new MemoryPort("b", 2, Offloads.NONE, false);
        BridgePort pa = bridge.attach(a, VlanMembership.DEFAULT);
        BridgePort pb = bridge.attach(b, VlanMembership.DEFAULT);
        long macA = 0x0200_0000_000aL;
        long macB = 0x0200_0000_000bL;
        bridge.fdb().learn(0, macB, pb.index(), 0);
        rx = a.queue(0);
        rx.repeat(Frames.udp4(macB, macA, 0xc6120001, 0xc6120002, 40000, 5201, 18));
        ingress = new Ingress(bridge, pa, 0, new Forwarder(bridge, new Segmenter(NativeAddress.NONE)));
        batch = new FrameBatch(BATCH);
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void forward64ByteFrames() {
        rx.receive(batch);
        now += 1_000;
        ingress.process(batch, now);
    }
}
