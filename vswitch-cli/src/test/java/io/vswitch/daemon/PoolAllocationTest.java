package io.vswitch.daemon;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.common.io.Closer;
import com.google.common.util.concurrent.Uninterruptibles;
import io.vswitch.core.bridge.Bridge;
import io.vswitch.core.frame.FrameLeaks;
import io.vswitch.vm.VmDgramPort;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import jnr.unixsocket.UnixDatagramChannel;
import jnr.unixsocket.UnixSocketAddress;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Zero heap allocation per frame in a pool thread's steady state: one thread ({@code --datapath-threads
 * 1}) serves two {@link VmDgramPort}s on unix datagram sockets and forwards unicast frames both ways
 * between them, while the JVM counts the bytes that thread allocates ({@code ThreadMXBean}). The
 * whole loop is measured: epoll wait, slot lookup, batch drain, learning, forwarding, transmit and
 * the per-queue wakeup histogram.
 */
class PoolAllocationTest {
    private static final int FRAMES = 20_000;
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    @TempDir
    Path dir;
    /** What the test opened, closed in reverse order after it. */
    private final Closer closer = Closer.create();

    @AfterEach
    void cleanUp() throws Exception {
        closer.close();
    }

    @Test
    void aPoolThreadForwardingBetweenTwoPortsDoesNotAllocate() throws Exception {
        VmDgramPort a = VmDgramPort.open("a", dir.resolve("a.sock"), dir.resolve("a-qemu.sock"), null, Duration.ofMillis(20));
        closer.register(a::close);
        VmDgramPort b = VmDgramPort.open("b", dir.resolve("b.sock"), dir.resolve("b-qemu.sock"), null, Duration.ofMillis(20));
        closer.register(b::close);
        UnixDatagramChannel qemuA = guest("a");
        UnixDatagramChannel qemuB = guest("b");
        PortRegistry registry = new PortRegistry(new Bridge(), spec -> spec.name().equals("a") ? a : b,
                QueueSupervisor.Policy.DEFAULT, 1);
        closer.register(registry::close);
        PortRegistry.Entry ea = registry.add(spec("a"));
        PortRegistry.Entry eb = registry.add(spec("b"));
        Thread dp = Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().equals("dp-0")).findFirst()
                .orElseThrow();

        AtomicBoolean stop = new AtomicBoolean();
        byte[] toB = frame(0x0b, 0x0a);
        byte[] toA = frame(0x0a, 0x0b);
        UnixSocketAddress atA = new UnixSocketAddress(dir.resolve("a.sock").toFile());
        UnixSocketAddress atB = new UnixSocketAddress(dir.resolve("b.sock").toFile());
        Thread guests = new Thread(() -> {
            ByteBuffer sink = ByteBuffer.allocate(2048);
            while (!stop.get()) {
                // Non-blocking both ways: jnr-unixsocket reports a full or empty socket (EAGAIN) as an
                // exception, which here only means "not now".
                try {
                    qemuA.send(ByteBuffer.wrap(toB), atA);
                    qemuB.send(ByteBuffer.wrap(toA), atB);
                } catch (IOException full) {
                    Thread.onSpinWait();
                }
                try {
                    while (qemuA.receive(sink.clear()) != null) {
                        // drained: the switch's writes do not find a full socket
                    }
                } catch (IOException empty) {
                    // nothing more
                }
                try {
                    while (qemuB.receive(sink.clear()) != null) {
                        // drained
                    }
                } catch (IOException empty) {
                    // nothing more
                }
            }
        }, "test-guests");
        guests.start();
        closer.register(() -> {
            stop.set(true);
            Uninterruptibles.joinUninterruptibly(guests, 5, TimeUnit.SECONDS);
        });

        long allocated = 0;
        try (AutoCloseable paused = FrameLeaks.pause()) {
            for (int pass = 0; pass < 3; pass++) { // the first passes warm the JIT up
                long target = forwarded(ea, eb) + FRAMES;
                long before = THREADS.getThreadAllocatedBytes(dp.getId());
                long deadline = System.nanoTime() + 60_000_000_000L;
                while (forwarded(ea, eb) < target) {
                    if (System.nanoTime() > deadline) {
                        fail("no progress: " + forwarded(ea, eb) + " of " + target + " frames forwarded");
                    }
                    Thread.sleep(5);
                }
                allocated = THREADS.getThreadAllocatedBytes(dp.getId()) - before;
                System.out.printf("pass %d: dp-0 allocated %d bytes for %d frames%n", pass, allocated, FRAMES);
            }
        }
        stop.set(true);
        guests.join(5000);
        assertTrue(allocated < FRAMES / 10, "dp-0 allocated " + allocated + " bytes for " + FRAMES + " frames");
    }

    private static long forwarded(PortRegistry.Entry a, PortRegistry.Entry b) {
        return a.bridgePort.counters().txPackets() + b.bridgePort.counters().txPackets();
    }

    private UnixDatagramChannel guest(String name) throws IOException {
        UnixDatagramChannel ch = UnixDatagramChannel.open();
        closer.register(ch);
        ch.bind(new UnixSocketAddress(dir.resolve(name + "-qemu.sock").toFile()));
        ch.configureBlocking(false);
        return ch;
    }

    private PortSpec spec(String name) {
        return PortSpec.parse("vm-dgram:" + name + ",path=" + dir.resolve(name + ".sock") + ",peer="
                + dir.resolve(name + "-qemu.sock"));
    }

    /** A 60-byte unicast frame of a local experimental EtherType between 02:00:00:00:00:src and ...:dst. */
    private static byte[] frame(int dst, int src) {
        byte[] f = new byte[60];
        f[0] = 0x02;
        f[5] = (byte) dst;
        f[6] = 0x02;
        f[11] = (byte) src;
        f[12] = (byte) 0x88;
        f[13] = (byte) 0xb5;
        return f;
    }
}
