package io.vswitch.daemon;

import static io.vswitch.daemon.DaemonTesting.awaitTrue;
import static io.vswitch.daemon.DaemonTesting.thread;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.common.io.Closer;
import com.google.common.util.concurrent.Uninterruptibles;
import io.vswitch.core.bridge.Bridge;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.linux.PollableQueue;
import io.vswitch.vm.VmDgramPort;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import jnr.unixsocket.UnixDatagramChannel;
import jnr.unixsocket.UnixSocketAddress;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code vswitch daemon --datapath-threads N}: a pool of datapath threads, each serving the queues of
 * several ports. Real ports: {@link VmDgramPort}s on unix datagram sockets, with jnr-unixsocket channels
 * playing QEMU; the registry, supervisors and threads are the production ones, and faults are injected
 * only by a test-only {@link InterposedPort} around a port's queue.
 */
class DatapathPoolTest {
    private static final QueueSupervisor.Policy FAST_RESTART =
            new QueueSupervisor.Policy(Duration.ofSeconds(30), Duration.ofMillis(200), 5);

    @TempDir
    Path dir;
    /** What the test opened, closed in reverse order after it. */
    private final Closer closer = Closer.create();
    private final Map<String, GuardedPort> ports = new LinkedHashMap<>();
    private final Map<String, UnixDatagramChannel> qemus = new LinkedHashMap<>();

    @AfterEach
    void cleanUp() throws Exception {
        closer.close();
        for (GuardedPort port : ports.values()) {
            port.delegate.close();
        }
    }

    @Test
    void twoPortsOnOneThreadForwardBothWays() throws Exception {
        PortRegistry registry = registry(1, QueueSupervisor.Policy.DEFAULT);
        PortRegistry.Entry a = add(registry, "a");
        PortRegistry.Entry b = add(registry, "b");
        assertEquals("dp-0", a.queues.get(0).thread().name());
        assertEquals("dp-0", b.queues.get(0).thread().name());

        assertForwards("a", "b");
        assertForwards("b", "a");
        assertForwards("a", "b");
        assertFalse(threadExists("dp-a-q0") || threadExists("dp-b-q0"), "no thread of a port's own in pool mode");
        assertTrue(threadExists("dp-0"));
    }

    @Test
    void withoutAPoolEachQueueHasItsOwnThread() throws Exception {
        PortRegistry registry = registry(0, QueueSupervisor.Policy.DEFAULT);
        PortRegistry.Entry a = add(registry, "a");
        add(registry, "b");
        assertEquals("dp-a-q0", a.queues.get(0).thread().name());
        assertForwards("a", "b");
        assertTrue(threadExists("dp-a-q0") && threadExists("dp-b-q0"));
        assertFalse(threadExists("dp-0"));
    }

    @Test
    void eachQueueGoesToTheLeastLoadedThreadLowestIndexFirst() throws Exception {
        PortRegistry registry = registry(2, QueueSupervisor.Policy.DEFAULT);
        assertEquals("dp-0", threadOf(add(registry, "p1")));
        assertEquals("dp-1", threadOf(add(registry, "p2")));
        assertEquals("dp-0", threadOf(add(registry, "p3")));
        assertTrue(registry.remove("p1"));
        assertEquals("dp-0", threadOf(add(registry, "p4")), "a tie goes to the lower index");
        assertTrue(registry.remove("p2"));
        assertEquals("dp-1", threadOf(add(registry, "p5")), "dp-1 serves nothing now");
        assertEquals(List.of(2, 1), registry.pool().stream().map(QueueSupervisor::load).toList());
        assertForwards("p5", "p4");
    }

    /**
     * The pool thread is held inside a write to the port being removed (a flood that found it before
     * the removal): the removal must wait for it before it closes the port, and the other ports
     * served by the same thread forward afterwards.
     */
    @Test
    void aPortRemovedWhileThePoolThreadWritesToItIsClosedOnlyAfterTheWrite() throws Exception {
        PortRegistry registry = registry(1, QueueSupervisor.Policy.DEFAULT);
        add(registry, "src");
        add(registry, "gone");
        add(registry, "stays");
        GuardedPort gone = ports.get("gone");
        CountDownLatch release = new CountDownLatch(1);
        gone.holdTransmit = release;
        send("src", broadcast(0x0a, 1));
        awaitTrue(gone.inTransmit::get, "the pool thread writes to the doomed port");

        Thread remover = new Thread(() -> registry.remove("gone"), "test-remover");
        remover.start();
        closer.register(() -> { // a failed assertion below must not leave the pool thread held
            release.countDown();
            Uninterruptibles.joinUninterruptibly(remover, 5, TimeUnit.SECONDS);
        });
        remover.join(300);
        assertTrue(remover.isAlive(), "the removal did not wait for the pool thread's write to end");
        assertFalse(gone.closed.get(), "the port was closed while the pool thread was writing to it");
        release.countDown();
        remover.join(20_000);
        assertFalse(remover.isAlive());
        assertTrue(gone.closed.get());
        assertFalse(gone.writtenAfterClose.get(), "a frame was written to the removed port during or after its close");
        assertEquals(null, registry.get("gone"));
        drain("stays");
        assertForwards("src", "stays");
        assertForwards("stays", "src");
    }

    @Test
    void aPoolThreadKilledByAnExceptionIsRestartedWithAllItsQueues() throws Exception {
        PortRegistry registry = registry(1, FAST_RESTART);
        PortRegistry.Entry a = add(registry, "a");
        PortRegistry.Entry b = add(registry, "b");
        assertForwards("a", "b");

        ports.get("a").failNextReceive.set(true);
        send("a", broadcast(0x0a, 1));
        awaitTrue(() -> a.datapathState() == QueueSupervisor.State.RESTARTING, "the death is noticed");
        assertEquals(QueueSupervisor.State.RESTARTING, b.datapathState(), "the other port's queue died with the thread");
        assertEquals(1, b.threadDeaths());
        assertTrue(b.lastThreadFailure().contains("dp-0") && b.lastThreadFailure().contains("injected"),
                b.lastThreadFailure());

        awaitTrue(() -> {
            registry.superviseThreads();
            return a.threadRestarts() == 1;
        }, "restarted after the back-off");
        assertEquals(QueueSupervisor.State.RUNNING, a.datapathState());
        assertEquals(QueueSupervisor.State.RUNNING, b.datapathState());
        drain("b");
        assertForwards("a", "b");
        assertForwards("b", "a");
    }

    @Test
    void aThreadGivenUpOnGetsNoNewQueues() throws Exception {
        PortRegistry registry = registry(2, new QueueSupervisor.Policy(Duration.ofSeconds(30), Duration.ofMillis(200), 1));
        PortRegistry.Entry a = add(registry, "a");
        assertEquals("dp-1", threadOf(add(registry, "b")));
        ports.get("a").failNextReceive.set(true);
        send("a", broadcast(0x0a, 1));
        awaitTrue(() -> a.datapathState() == QueueSupervisor.State.FAILED, "dp-0 is given up after one death");
        assertEquals("dp-1", threadOf(add(registry, "c")), "equal loads, but dp-0 would never serve the queue");
        assertForwards("c", "b");
    }

    /** {@code IdleCpuIT}'s idea for the pool: a thread waiting on the queues of idle ports sleeps. */
    @Test
    void anIdlePoolThreadUsesNoCpu() throws Exception {
        PortRegistry registry = registry(1, QueueSupervisor.Policy.DEFAULT.withBusyPoll(Duration.ofMillis(1)));
        add(registry, "a");
        add(registry, "b");
        assertForwards("a", "b");
        Thread.sleep(100);
        Thread dp = thread("dp-0");
        var mx = ManagementFactory.getThreadMXBean();
        long before = mx.getThreadCpuTime(dp.getId());
        Thread.sleep(1000);
        long cpu = mx.getThreadCpuTime(dp.getId()) - before;
        // The ports' 20 ms peer probes wake it 100 times a second; spinning would take the whole second.
        assertTrue(cpu < TimeUnit.MILLISECONDS.toNanos(50), "dp-0 used " + cpu / 1_000_000 + " ms of CPU in 1 s idle");
    }

    private PortRegistry registry(int threads, QueueSupervisor.Policy policy) throws IOException {
        PortRegistry registry = new PortRegistry(new Bridge(), spec -> ports.get(spec.name()), policy, threads);
        closer.register(registry::close);
        return registry;
    }

    private PortRegistry.Entry add(PortRegistry registry, String name) throws IOException {
        Path path = dir.resolve(name + ".sock");
        Path peer = dir.resolve(name + "-qemu.sock");
        UnixDatagramChannel qemu = UnixDatagramChannel.open();
        closer.register(qemu);
        qemu.bind(new UnixSocketAddress(peer.toFile()));
        qemu.configureBlocking(false);
        qemus.put(name, qemu);
        ports.put(name, new GuardedPort(VmDgramPort.open(name, path, peer, null, Duration.ofMillis(20))));
        return registry.add(PortSpec.parse("vm-dgram:" + name + ",path=" + path + ",peer=" + peer));
    }

    private static String threadOf(PortRegistry.Entry entry) {
        return entry.queues.get(0).thread().name();
    }

    /** A frame from {@code from}'s guest to {@code to}'s guest MAC arrives there (flooded or, once learned, unicast). */
    private void assertForwards(String from, String to) throws Exception {
        int seq = (int) (System.nanoTime() & 0xffff);
        byte[] frame = unicast(mac(to), mac(from), seq);
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (System.nanoTime() < deadline) {
            send(from, frame);
            long until = System.nanoTime() + 200_000_000L;
            while (System.nanoTime() < until) {
                byte[] got = receive(to);
                if (got == null) {
                    Thread.sleep(1);
                } else if (Arrays.equals(got, frame)) {
                    return;
                }
            }
        }
        fail("no frame from " + from + " reached " + to);
    }

    private void send(String port, byte[] frame) throws IOException {
        qemus.get(port).send(ByteBuffer.wrap(frame), new UnixSocketAddress(dir.resolve(port + ".sock").toFile()));
    }

    /** The next frame waiting at the port's guest, or null (jnr-unixsocket reports EAGAIN as an exception). */
    private byte[] receive(String port) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(2048);
        try {
            if (qemus.get(port).receive(b) == null) {
                return null;
            }
        } catch (IOException e) {
            if (String.valueOf(e.getMessage()).contains("temporarily unavailable")) {
                return null;
            }
            throw e;
        }
        b.flip();
        byte[] bytes = new byte[b.remaining()];
        b.get(bytes);
        return bytes;
    }

    /** Reads everything waiting at the port's guest; returns how many frames. */
    private int drain(String port) throws IOException {
        int n = 0;
        while (receive(port) != null) {
            n++;
        }
        return n;
    }

    private static byte mac(String port) {
        return (byte) (port.hashCode() & 0x7f);
    }

    /** A 60-byte frame of a local experimental EtherType from 02:00:00:00:00:src to 02:00:00:00:00:dst. */
    private static byte[] unicast(byte dst, byte src, int seq) {
        byte[] f = new byte[60];
        f[0] = 0x02;
        f[5] = dst;
        f[6] = 0x02;
        f[11] = src;
        f[12] = (byte) 0x88;
        f[13] = (byte) 0xb5;
        f[14] = (byte) (seq >> 8);
        f[15] = (byte) seq;
        return f;
    }

    private static byte[] broadcast(int src, int seq) {
        byte[] f = unicast((byte) 0, (byte) src, seq);
        for (int i = 0; i < 6; i++) {
            f[i] = (byte) 0xff;
        }
        return f;
    }

    private static boolean threadExists(String name) {
        return Thread.getAllStackTraces().keySet().stream().anyMatch(t -> t.getName().equals(name));
    }



    /**
     * A real port that fails its next receive on request, can hold a write until released, and notes
     * a write during or after its close (which on a real fd would go to whatever the kernel handed
     * that number to next).
     */
    static final class GuardedPort extends InterposedPort {
        final AtomicBoolean failNextReceive = new AtomicBoolean();
        final AtomicBoolean closed = new AtomicBoolean();
        final AtomicBoolean writtenAfterClose = new AtomicBoolean();
        final AtomicBoolean inTransmit = new AtomicBoolean();
        volatile CountDownLatch holdTransmit;

        GuardedPort(VmDgramPort delegate) {
            super(delegate);
        }

        @Override
        int receive(PollableQueue real, FrameBatch batch) {
            if (failNextReceive.getAndSet(false)) {
                throw new IllegalStateException("injected receive failure");
            }
            return real.receive(batch);
        }

        @Override
        int transmit(PollableQueue real, Frame frame) {
            inTransmit.set(true);
            CountDownLatch hold = holdTransmit;
            if (hold != null) {
                try {
                    hold.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            if (closed.get()) {
                writtenAfterClose.set(true);
            }
            int result = real.transmit(frame);
            inTransmit.set(false);
            return result;
        }

        @Override
        public void close() {
            closed.set(true);
            super.close();
        }
    }
}
