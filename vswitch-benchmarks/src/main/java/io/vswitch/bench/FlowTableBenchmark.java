package io.vswitch.bench;

import io.vswitch.core.flow.FlowTable;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/** Flow table record and select over 2048 live flows. */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class FlowTableBenchmark {
    private static final int FLOWS = 2048;
    private final FlowTable table = new FlowTable();
    private final int[] hashes = new int[FLOWS];
    private int next;
    private long now;

    @Setup
    public void setUp() {
        for (int i = 0; i < FLOWS; i++) {
            hashes[i] = i * 0x9e3779b1;
            table.record(hashes[i], i & 3, 0);
        }
    }

    private int hash() {
        int i = next;
        next = (i + 1) & (FLOWS - 1);
        return hashes[i];
    }

    @Benchmark
    public void record() {
        now += 100;
        table.record(hash(), next & 3, now);
    }

    @Benchmark
    public int select() {
        return table.select(hash(), 4, now);
    }
}
