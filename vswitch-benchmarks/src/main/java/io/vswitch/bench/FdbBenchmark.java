package io.vswitch.bench;

import io.vswitch.core.fdb.Fdb;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Group;
import org.openjdk.jmh.annotations.GroupThreads;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The FDB with 1 K, 64 K and 1 M entries under random keys: lookup; the learning outcomes a datapath
 * thread meets (refresh of a known address, a move to another port, an entry deleted and created
 * again, which takes the write lock and reuses the freed slot); and lookups while another thread keeps
 * deleting and creating entries (the {@code underWriter} group: one reader, one writer).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "-Xmx2g")
public class FdbBenchmark {
    private static final int PORTS = 64;

    @Param({"1024", "65536", "1048576"})
    int entries;

    private Fdb fdb;
    private long[] macs;
    private int[] vlans;

    /** Each thread's position in the key list and its clock. */
    @State(Scope.Thread)
    public static class Cursor {
        int next;
        int lap;
        long now;

        int index(int size) {
            int i = next;
            if (i + 1 == size) {
                next = 0;
                lap++;
            } else {
                next = i + 1;
            }
            return i;
        }
    }

    @Setup
    public void setUp() {
        fdb = new Fdb(entries, entries, PORTS);
        SplittableRandom random = new SplittableRandom(7);
        macs = new long[entries];
        vlans = new int[entries];
        for (int i = 0; i < entries; i++) {
            macs[i] = random.nextLong() & 0xfeff_ffff_ffffL | 0x0200_0000_0000L;
            vlans[i] = random.nextInt(1, 4095);
            fdb.learn(vlans[i], macs[i], home(i), 0);
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

    /** The port an address is learned on at setup. */
    private int home(int i) {
        return (int) (macs[i] % PORTS);
    }

    @Benchmark
    public int lookup(Cursor c) {
        int i = c.index(macs.length);
        return fdb.lookup(vlans[i], macs[i]);
    }

    /** A known address seen again on its port: the lock-free refresh. */
    @Benchmark
    public int refresh(Cursor c) {
        int i = c.index(macs.length);
        c.now += 1_000;
        return fdb.learn(vlans[i], macs[i], home(i), c.now);
    }

    /** A known address seen on another port: a move, under the write lock. */
    @Benchmark
    public int move(Cursor c) {
        int lap = c.lap;
        int i = c.index(macs.length);
        c.now += 1_000;
        // Every lap moves each address between its home port and the next one.
        return fdb.learn(vlans[i], macs[i], (home(i) + 1 - (lap & 1)) % PORTS, c.now);
    }

    /** An address deleted and learned again: two write-lock sections and a slot handed over. */
    @Benchmark
    public int deleteAndCreate(Cursor c) {
        int i = c.index(macs.length);
        c.now += 1_000;
        fdb.remove(vlans[i], macs[i]);
        return fdb.learn(vlans[i], macs[i], home(i), c.now);
    }

    @Benchmark
    @Group("underWriter")
    @GroupThreads(1)
    public int reader(Cursor c) {
        return lookup(c);
    }

    @Benchmark
    @Group("underWriter")
    @GroupThreads(1)
    public int writer(Cursor c) {
        return deleteAndCreate(c);
    }
}
