package io.vswitch.daemon;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.common.io.Closer;
import io.vswitch.core.bridge.Bridge;
import io.vswitch.vm.VmDgramPort;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import jnr.unixsocket.UnixDatagramChannel;
import jnr.unixsocket.UnixSocketAddress;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Busy polling ({@code vswitch daemon --busy-poll-us}): a busy queue's thread polls instead of
 * sleeping, goes back to sleep when the traffic stops, and a queue that sees a frame now and then is
 * never polled. Real port: a {@link VmDgramPort} on unix datagram sockets, a jnr-unixsocket channel
 * playing QEMU. The thread's sleeps are its voluntary context switches ({@code /proc/self/task/TID/status}),
 * its CPU time is the JVM's per-thread clock; the bounds are an order of magnitude from what the
 * behaviour under test would give, so they hold on a loaded machine.
 */
class BusyPollTest {
    private static final String THREAD = "dp-in-q0";
    private static final int STREAM_FRAMES = 2000;
    private static final long STREAM_GAP_NANOS = 100_000;

    @TempDir
    Path dir;
    /** What the test opened, closed in reverse order after it. */
    private final Closer closer = Closer.create();
    private UnixDatagramChannel qemu;

    @AfterEach
    void cleanUp() throws Exception {
        closer.close();
    }

    @Test
    void aBusyQueueIsPolledInsteadOfSleptOn() throws Exception {
        startPort(Duration.ofMillis(2));
        long sleeps = sleepsDuring(this::stream);
        assertTrue(sleeps < STREAM_FRAMES / 10, "the thread slept " + sleeps + " times during " + STREAM_FRAMES
                + " frames 100 us apart with a 2 ms busy-poll budget");
    }

    /**
     * The same stream without busy polling keeps waking the thread (so the test above can
     * fail): 350-1600 sleeps measured under a load average of 4-7, against 15-40 with busy polling.
     */
    @Test
    void withoutBusyPollingTheSameStreamKeepsWakingTheThread() throws Exception {
        startPort(Duration.ZERO);
        long sleeps = sleepsDuring(this::stream);
        assertTrue(sleeps > STREAM_FRAMES / 10, "the thread slept only " + sleeps + " times during " + STREAM_FRAMES
                + " frames 100 us apart");
    }

    @Test
    void theThreadSleepsAgainOnceTheTrafficStops() throws Exception {
        startPort(Duration.ofMillis(1));
        stream();
        Thread.sleep(100);
        long cpu = cpuNanosDuring(() -> Thread.sleep(500));
        assertTrue(cpu < TimeUnit.MILLISECONDS.toNanos(50), "the thread used " + cpu / 1_000_000 + " ms of CPU in the"
                + " 500 ms after the traffic stopped");
    }

    @Test
    void aQueueThatSeesAFrameNowAndThenIsNeverPolled() throws Exception {
        startPort(Duration.ofMillis(1));
        for (int i = 0; i < 10; i++) { // warm up: the first frames run interpreted
            send(i);
            Thread.sleep(20);
        }
        long cpu = cpuNanosDuring(() -> {
            for (int i = 0; i < 25; i++) {
                send(i);
                Thread.sleep(20);
            }
        });
        // Polling 1 ms after each of the 25 frames would take 25 ms; handling them takes well under 1 ms.
        assertTrue(cpu < TimeUnit.MILLISECONDS.toNanos(10), "the thread used " + cpu / 1_000_000
                + " ms of CPU for 25 frames 20 ms apart");
    }

    private void startPort(Duration busyPoll) throws Exception {
        VmDgramPort port = VmDgramPort.open("in", dir.resolve("in.sock"), dir.resolve("in-qemu.sock"), null,
                Duration.ofMillis(20));
        closer.register(port::close);
        qemu = UnixDatagramChannel.open();
        closer.register(qemu);
        qemu.bind(new UnixSocketAddress(dir.resolve("in-qemu.sock").toFile()));
        PortRegistry registry = new PortRegistry(new Bridge(), spec -> port,
                QueueSupervisor.Policy.DEFAULT.withBusyPoll(busyPoll));
        closer.register(() -> registry.remove("in"));
        registry.add(PortSpec.parse("vm-dgram:in,path=" + dir.resolve("in.sock") + ",peer=" + dir.resolve("in-qemu.sock")));
        send(0);
        Thread.sleep(50);
    }

    /** {@value #STREAM_FRAMES} frames, one every 100 us (paced by spinning: sleeping is too coarse). */
    private void stream() throws IOException {
        long next = System.nanoTime();
        for (int i = 0; i < STREAM_FRAMES; i++) {
            while (System.nanoTime() < next) {
                Thread.onSpinWait();
            }
            send(i);
            next += STREAM_GAP_NANOS;
        }
    }

    /** A 60-byte broadcast of a local experimental EtherType: no other port, so the bridge drops it. */
    private void send(int seq) throws IOException {
        byte[] f = new byte[60];
        for (int i = 0; i < 6; i++) {
            f[i] = (byte) 0xff;
        }
        f[6] = 0x02;
        f[11] = 0x01;
        f[12] = (byte) 0x88;
        f[13] = (byte) 0xb5;
        f[14] = (byte) seq;
        qemu.send(ByteBuffer.wrap(f), new UnixSocketAddress(dir.resolve("in.sock").toFile()));
    }

    @FunctionalInterface
    private interface Step {
        void run() throws Exception;
    }

    private static long sleepsDuring(Step step) throws Exception {
        Path status = Path.of("/proc/self/task", Long.toString(nativeTid()), "status");
        long before = voluntarySwitches(status);
        step.run();
        Thread.sleep(20);
        return voluntarySwitches(status) - before;
    }

    private static long cpuNanosDuring(Step step) throws Exception {
        long id = thread().getId();
        var mx = ManagementFactory.getThreadMXBean();
        long before = mx.getThreadCpuTime(id);
        step.run();
        return mx.getThreadCpuTime(id) - before;
    }

    private static long voluntarySwitches(Path status) throws IOException {
        for (String line : Files.readAllLines(status)) {
            if (line.startsWith("voluntary_ctxt_switches:")) {
                return Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
            }
        }
        throw new IllegalStateException("no voluntary_ctxt_switches in " + status);
    }

    /** The kernel's id of the datapath thread (Java 17 does not expose it): the task whose comm is its name. */
    private static long nativeTid() throws IOException {
        try (var tasks = Files.list(Path.of("/proc/self/task"))) {
            for (Path task : tasks.toList()) {
                if (Files.readString(task.resolve("comm")).trim().equals(THREAD)) {
                    return Long.parseLong(task.getFileName().toString());
                }
            }
        }
        fail("no task named " + THREAD);
        return -1;
    }

    private static Thread thread() {
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().equals(THREAD)) {
                return t;
            }
        }
        fail("no thread named " + THREAD);
        return null;
    }
}
