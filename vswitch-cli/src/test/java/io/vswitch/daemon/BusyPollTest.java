package io.vswitch.daemon;

import static io.vswitch.daemon.DaemonTesting.thread;
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
 * its CPU time is the JVM's per-thread clock; the bounds are several times from what the behaviour
 * under test gives, and the sleeps are compared with an unpolled port's under the same load, so they
 * hold on a loaded machine.
 */
class BusyPollTest {
    private static final int STREAM_FRAMES = 2000;
    private static final long STREAM_GAP_NANOS = 100_000;

    @TempDir
    Path dir;
    /** What the test opened, closed in reverse order after it. */
    private final Closer closer = Closer.create();

    @AfterEach
    void cleanUp() throws Exception {
        closer.close();
    }

    /** A port on the switch, the socket playing its QEMU, and the name of its datapath thread. */
    private record Guest(String name, UnixDatagramChannel qemu, String thread) {
    }

    /**
     * The same stream to two ports, one polled and one not, taken in turns so that both see the same
     * load: the polled port's thread sleeps a fraction of the other's (15-40 against 350-1600 times per
     * stream measured at a load average of 4-7; both fall when a loaded machine bunches the frames).
     */
    @Test
    void aBusyQueueIsPolledInsteadOfSleptOn() throws Exception {
        Guest plain = startPort("plain", Duration.ZERO);
        Guest polled = startPort("polled", Duration.ofMillis(2));
        long plainSleeps = 0;
        long polledSleeps = 0;
        for (int round = 0; round < 2; round++) {
            plainSleeps += sleepsDuring(plain, () -> stream(plain));
            polledSleeps += sleepsDuring(polled, () -> stream(polled));
        }
        assertTrue(polledSleeps * 4 < plainSleeps, "over two streams of " + STREAM_FRAMES + " frames 100 us apart the"
                + " polled thread slept " + polledSleeps + " times, the other " + plainSleeps);
    }

    @Test
    void theThreadSleepsAgainOnceTheTrafficStops() throws Exception {
        Guest guest = startPort("in", Duration.ofMillis(1));
        stream(guest);
        Thread.sleep(100);
        long cpu = cpuNanosDuring(guest, () -> Thread.sleep(500));
        assertTrue(cpu < TimeUnit.MILLISECONDS.toNanos(50), "the thread used " + cpu / 1_000_000 + " ms of CPU in the"
                + " 500 ms after the traffic stopped");
    }

    @Test
    void aQueueThatSeesAFrameNowAndThenIsNeverPolled() throws Exception {
        Guest guest = startPort("in", Duration.ofMillis(5));
        for (int i = 0; i < 10; i++) { // warm up: the first frames run interpreted
            send(guest, i);
            Thread.sleep(20);
        }
        long cpu = cpuNanosDuring(guest, () -> {
            for (int i = 0; i < 25; i++) {
                send(guest, i);
                Thread.sleep(20);
            }
        });
        // Polling 5 ms after each of the 25 frames would take 125 ms; handling them took 1-10 ms.
        assertTrue(cpu < TimeUnit.MILLISECONDS.toNanos(40), "the thread used " + cpu / 1_000_000
                + " ms of CPU for 25 frames 20 ms apart");
    }

    private Guest startPort(String name, Duration busyPoll) throws Exception {
        Path path = dir.resolve(name + ".sock");
        Path peer = dir.resolve(name + "-qemu.sock");
        VmDgramPort port = VmDgramPort.open(name, path, peer, null, Duration.ofMillis(20));
        closer.register(port::close);
        UnixDatagramChannel qemu = UnixDatagramChannel.open();
        closer.register(qemu);
        qemu.bind(new UnixSocketAddress(peer.toFile()));
        PortRegistry registry = new PortRegistry(new Bridge(), spec -> port,
                QueueSupervisor.Policy.DEFAULT.withBusyPoll(busyPoll));
        closer.register(() -> registry.remove(name));
        registry.add(PortSpec.parse("vm-dgram:" + name + ",path=" + path + ",peer=" + peer));
        Guest guest = new Guest(name, qemu, "dp-" + name + "-q0");
        send(guest, 0);
        Thread.sleep(50);
        return guest;
    }

    /** {@value #STREAM_FRAMES} frames, one every 100 us (paced by spinning: sleeping is too coarse). */
    private void stream(Guest guest) throws IOException {
        long next = System.nanoTime();
        for (int i = 0; i < STREAM_FRAMES; i++) {
            while (System.nanoTime() < next) {
                Thread.onSpinWait();
            }
            send(guest, i);
            next += STREAM_GAP_NANOS;
        }
    }

    /** A broadcast frame: there is no other port, so the bridge drops it. */
    private void send(Guest guest, int seq) throws IOException {
        guest.qemu().send(ByteBuffer.wrap(DaemonTesting.broadcast(seq)),
                new UnixSocketAddress(dir.resolve(guest.name() + ".sock").toFile()));
    }

    @FunctionalInterface
    private interface Step {
        void run() throws Exception;
    }

    private static long sleepsDuring(Guest guest, Step step) throws Exception {
        Path status = Path.of("/proc/self/task", Long.toString(nativeTid(guest.thread())), "status");
        long before = voluntarySwitches(status);
        step.run();
        Thread.sleep(20);
        return voluntarySwitches(status) - before;
    }

    private static long cpuNanosDuring(Guest guest, Step step) throws Exception {
        long id = thread(guest.thread()).getId();
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
    private static long nativeTid(String name) throws IOException {
        try (var tasks = Files.list(Path.of("/proc/self/task"))) {
            for (Path task : tasks.toList()) {
                if (Files.readString(task.resolve("comm")).trim().equals(name)) {
                    return Long.parseLong(task.getFileName().toString());
                }
            }
        }
        fail("no task named " + name);
        return -1;
    }

}
