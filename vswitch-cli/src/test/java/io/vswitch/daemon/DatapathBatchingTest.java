package io.vswitch.daemon;

import static io.vswitch.daemon.DaemonTesting.awaitTrue;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.common.io.Closer;
import io.vswitch.core.bridge.Bridge;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.port.Port;
import io.vswitch.linux.PollableQueue;
import io.vswitch.vm.VmDgramPort;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import jnr.unixsocket.UnixDatagramChannel;
import jnr.unixsocket.UnixSocketAddress;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * How a datapath thread batches after a wakeup (issue 12): the first frame is forwarded before the
 * queue is read again, and a queue that keeps delivering full batches gets bigger ones. Real ports:
 * two {@link VmDgramPort}s on unix datagram sockets, with jnr-unixsocket channels playing QEMU; the
 * queues are wrapped only to log the order of receives and transmits.
 */
class DatapathBatchingTest {
    private static final int FRAMES = 3;

    @TempDir
    Path dir;
    private final List<String> events = new ArrayList<>();
    /** What the test opened, closed in reverse order after it. */
    private final Closer closer = Closer.create();

    @AfterEach
    void cleanUp() throws Exception {
        closer.close();
    }

    @Test
    void theFirstFrameOfAWakeupIsForwardedBeforeTheNextRead() throws Exception {
        Port in = logged(VmDgramPort.open("in", dir.resolve("in.sock"), dir.resolve("in-qemu.sock"), null,
                Duration.ofMillis(20)));
        Port out = logged(VmDgramPort.open("out", dir.resolve("out.sock"), dir.resolve("out-qemu.sock"), null,
                Duration.ofMillis(20)));
        UnixDatagramChannel inQemu = bind(dir.resolve("in-qemu.sock"));
        UnixDatagramChannel outQemu = bind(dir.resolve("out-qemu.sock"));
        PortRegistry registry = new PortRegistry(new Bridge(),
                spec -> spec.name().equals("in") ? in : out, QueueSupervisor.Policy.DEFAULT);
        closer.register(() -> {
            registry.remove("in");
            registry.remove("out");
        });
        registry.add(spec("out"));
        awaitTrue(out::linkUp, "the out port sees its peer");

        // Queued before the in port's thread exists, so its first wakeup finds all of them waiting.
        byte[][] frames = new byte[FRAMES][];
        for (int i = 0; i < FRAMES; i++) {
            frames[i] = DaemonTesting.broadcast(i); // flooded to the out port
            inQemu.send(ByteBuffer.wrap(frames[i]), new UnixSocketAddress(dir.resolve("in.sock").toFile()));
        }
        registry.add(spec("in"));

        for (int i = 0; i < FRAMES; i++) {
            assertArrayEquals(frames[i], receive(outQemu), "frame " + i + " forwarded in order");
        }
        List<String> seen;
        synchronized (events) {
            seen = List.copyOf(events);
        }
        assertEquals(List.of("in: rx limit 1 got 1", "out: tx", "in: rx limit 2 got 2", "out: tx", "out: tx"),
                seen.subList(0, Math.min(5, seen.size())), "the whole log: " + seen);
    }

    private PortSpec spec(String name) {
        return PortSpec.parse("vm-dgram:" + name + ",path=" + dir.resolve(name + ".sock") + ",peer="
                + dir.resolve(name + "-qemu.sock"));
    }

    private UnixDatagramChannel bind(Path at) throws IOException {
        UnixDatagramChannel ch = UnixDatagramChannel.open();
        closer.register(ch);
        ch.bind(new UnixSocketAddress(at.toFile()));
        return ch;
    }

    private static byte[] receive(UnixDatagramChannel ch) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(2048);
        ch.receive(b);
        b.flip();
        byte[] bytes = new byte[b.remaining()];
        b.get(bytes);
        return bytes;
    }


    /** The port with its queue's non-empty receives and all transmits logged, in the order they happen. */
    private Port logged(VmDgramPort port) {
        closer.register(port::close);
        return new InterposedPort(port) {
            @Override
            int receive(PollableQueue real, FrameBatch batch) {
                int limit = batch.limit();
                int n = real.receive(batch);
                if (n > 0) {
                    log(port.name() + ": rx limit " + limit + " got " + n);
                }
                return n;
            }

            @Override
            int transmit(PollableQueue real, Frame frame) {
                log(port.name() + ": tx");
                return real.transmit(frame);
            }
        };
    }

    private void log(String event) {
        synchronized (events) {
            events.add(event);
        }
    }
}
