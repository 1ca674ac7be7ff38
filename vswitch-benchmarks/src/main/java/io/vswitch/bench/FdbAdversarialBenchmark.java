package io.vswitch.bench;

import io.vswitch.core.fdb.Fdb;
import io.vswitch.core.testing.UnsaltedCollisions;
import java.util.SplittableRandom;
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
 * Lookups of one guest's 8,192 source MACs (the per-port limit) in a default-sized FDB, when the
 * guest picked them at random and when it picked them to collide under the FDB's former, unsalted
 * hash. With the per-switch secret both should cost the same; with the former hash the colliding set
 * formed one probe run of 8,192 slots.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class FdbAdversarialBenchmark {
    private static final int VLAN = 1;

    @Param({"random", "colliding"})
    String macs;

    private Fdb fdb;
    private long[] keys;
    private int next;

    @Setup
    public void setUp() {
        int n = Fdb.DEFAULT_MAX_PER_PORT;
        fdb = new Fdb(Fdb.DEFAULT_MAX_ENTRIES, Fdb.DEFAULT_MAX_PER_PORT, 4);
        if (macs.equals("colliding")) {
            keys = UnsaltedCollisions.macs(VLAN, n, Fdb.DEFAULT_MAX_ENTRIES);
        } else {
            SplittableRandom random = new SplittableRandom(11);
            keys = new long[n];
            for (int i = 0; i < n; i++) {
                keys[i] = random.nextLong() & 0xfeff_ffff_ffffL | 0x0200_0000_0000L;
            }
        }
        for (long mac : keys) {
            if (fdb.learn(VLAN, mac, 1, 0) != Fdb.LEARNED) {
                throw new IllegalStateException("not learned: " + Long.toHexString(mac));
            }
        }
    }

    @Benchmark
    public int lookup() {
        int i = next;
        next = i + 1 == keys.length ? 0 : i + 1;
        return fdb.lookup(VLAN, keys[i]);
    }
}
