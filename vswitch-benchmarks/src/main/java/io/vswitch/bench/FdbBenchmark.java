package io.vswitch.bench;

import io.vswitch.core.fdb.Fdb;
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

/** FDB lookup and learn (refresh of a known address) with 1 K, 64 K and 1 M entries, random keys. */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "-Xmx2g")
public class FdbBenchmark {
    @Param({"1024", "65536", "1048576"})
    int entries;

    private Fdb fdb;
    private long[] macs;
    private int[] vlans;
    private int next;
    private long now;

    @Setup
    public void setUp() {
        fdb = new Fdb(entries, entries, 64);
        SplittableRandom random = new SplittableRandom(7);
        macs = new long[entries];
        vlans = new int[entries];
        for (int i = 0; i < entries; i++) {
            macs[i] = random.nextLong() & 0xfeff_ffff_ffffL | 0x0200_0000_0000L;
            vlans[i] = random.nextInt(1, 4095);
            fdb.learn(vlans[i], macs[i], i & 63, 0);
        }
        // Visit keys in a random order so the table is not walked sequentially.
        for (int i = entries - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            long m = macs[i];
            macs[i] = macs[j];
            macs[j] = m;
            int v = vlans[i];
            vlans[i] = vlans[j];
            vlans[j] = v;
        }
    }

    private int index() {
        int i = next;
        next = i + 1 == macs.length ? 0 : i + 1;
        return i;
    }

    @Benchmark
    public int lookup() {
        int i = index();
        return fdb.lookup(vlans[i], macs[i]);
    }

    @Benchmark
    public int learn() {
        int i = index();
        now += 1_000;
        return fdb.learn(vlans[i], macs[i], fdb.lookup(vlans[i], macs[i]), now);
    }
}
