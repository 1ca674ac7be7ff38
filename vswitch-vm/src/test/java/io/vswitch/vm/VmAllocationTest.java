package io.vswitch.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.port.FrameSink;
import io.vswitch.core.port.PortQueue;
import io.vswitch.linux.Allocations;
import io.vswitch.linux.DirectAddress;
import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;
import jnr.unixsocket.UnixDatagramChannel;
import jnr.unixsocket.UnixSocketAddress;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The VM ports' data path allocates nothing on the Java heap, like the TAP queues': receive (parse,
 * allocate from the queue's fragments, copy or read in place) and transmit (prefix in the headroom,
 * one send), measured with the thread's allocation counter over many frames after warm-up.
 */
class VmAllocationTest {
    private static final int FRAMES = 20_000;

    @TempDir
    Path dir;

    @Test
    void streamReceiveAndTransmitDoNotAllocate() throws Exception {
        streamReceiveAndTransmit(null, 600);
    }

    /** Jumbo frames take fragments of their length from the chunks (not the large buffers): no allocation either. */
    @Test
    void jumboStreamReceiveAndTransmitDoNotAllocate() throws Exception {
        streamReceiveAndTransmit(9000, 9014);
    }

    private void streamReceiveAndTransmit(Integer mtu, int frameLength) throws Exception {
        Path path = dir.resolve("a.sock");
        try (VmStreamPort port = VmStreamPort.open("vma", path, mtu);
             QueueDriver driver = new QueueDriver(port.queue(0));
             SocketChannel guest = SocketChannel.open(UnixDomainSocketAddress.of(path))) {
            driver.until(port::linkUp, java.time.Duration.ofSeconds(5), "the guest");
            PortQueue q = port.queue(0);
            FrameBatch batch = new FrameBatch(FrameBatch.DEFAULT_CAPACITY);

            // Receive: the guest writes frames from another thread, this thread only receives.
            AtomicBoolean stop = new AtomicBoolean();
            Thread writer = new Thread(() -> {
                ByteBuffer frames = ByteBuffer.allocateDirect(64 * (4 + frameLength));
                for (int i = 0; i < 64; i++) {
                    frames.putInt(frameLength).put(new byte[frameLength]);
                }
                try {
                    while (!stop.get()) {
                        frames.clear();
                        while (frames.hasRemaining()) {
                            guest.write(frames);
                        }
                    }
                } catch (IOException e) {
                    // closed at the end
                }
            });
            writer.start();
            long[] got = new long[1];
            Runnable receive = () -> {
                int n = q.receive(batch);
                for (int i = 0; i < batch.count(); i++) {
                    batch.get(i).release();
                }
                batch.clear();
                got[0] += Math.max(n, 0);
            };
            long allocated = Allocations.bytesForFrames(receive, FRAMES, got);
            stop.set(true);
            assertTrue(allocated < FRAMES / 10, "receive allocated " + allocated + " bytes for " + FRAMES + " frames");

            // Transmit: a reader drains the guest side so sends go through.
            guest.shutdownOutput();
            writer.join(5000);
            Thread reader = new Thread(() -> {
                ByteBuffer sink = ByteBuffer.allocateDirect(1 << 20);
                try {
                    while (guest.read(sink.clear()) >= 0) {
                        // discard
                    }
                } catch (IOException e) {
                    // closed at the end
                }
            });
            reader.start();
            FragAllocator allocator = new FragAllocator(DirectAddress.INSTANCE);
            Frame frame = new Frame();
            allocator.allocate(frame, frameLength);
            long[] sent = new long[1];
            Runnable transmit = () -> {
                if (q.transmit(frame) == FrameSink.SENT) {
                    sent[0]++;
                }
            };
            long txAllocated = Allocations.bytesForFrames(transmit, FRAMES, sent);
            assertTrue(txAllocated < FRAMES / 10, "transmit allocated " + txAllocated + " bytes for " + FRAMES + " frames");
            frame.release();
            guest.close();
            reader.join(5000);
        }
    }

    @Test
    void datagramReceiveAndTransmitDoNotAllocate() throws Exception {
        datagramRoundTrips(null, 800);
    }

    /** Jumbo datagrams are read into fragments bounded by the MTU, carved from the chunks: no allocation either. */
    @Test
    void jumboDatagramReceiveAndTransmitDoNotAllocate() throws Exception {
        datagramRoundTrips(9000, 9014);
    }

    private void datagramRoundTrips(Integer mtu, int frameLength) throws Exception {
        Path path = dir.resolve("b.sock");
        Path peerPath = dir.resolve("q.sock");
        UnixDatagramChannel qemu = UnixDatagramChannel.open();
        qemu.bind(new UnixSocketAddress(peerPath.toFile()));
        try (VmDgramPort port = VmDgramPort.open("vmb", path, peerPath, mtu)) {
            assertTrue(port.linkUp());
            PortQueue q = port.queue(0);
            FrameBatch batch = new FrameBatch(FrameBatch.DEFAULT_CAPACITY);
            // Transmit to QEMU, receive what QEMU echoes back: both on this thread, QEMU on another.
            AtomicBoolean stop = new AtomicBoolean();
            Thread echo = new Thread(() -> {
                ByteBuffer b = ByteBuffer.allocateDirect(port.maxFrameLength());
                UnixSocketAddress to = new UnixSocketAddress(path.toFile());
                try {
                    while (!stop.get()) {
                        b.clear();
                        qemu.receive(b);
                        b.flip();
                        qemu.send(b, to);
                    }
                } catch (IOException e) {
                    // closed at the end
                }
            });
            echo.start();
            FragAllocator allocator = new FragAllocator(DirectAddress.INSTANCE);
            Frame frame = new Frame();
            allocator.allocate(frame, frameLength);
            long[] done = new long[1];
            Runnable roundTrip = () -> {
                if (q.transmit(frame) == FrameSink.SENT) {
                    int n;
                    do {
                        n = q.receive(batch);
                    } while (n == 0);
                    for (int i = 0; i < batch.count(); i++) {
                        assertEquals(frameLength, batch.get(i).length());
                        batch.get(i).release();
                    }
                    batch.clear();
                    done[0] += n;
                }
            };
            long allocated = Allocations.bytesForFrames(roundTrip, FRAMES / 4, done);
            stop.set(true);
            qemu.close();
            echo.join(5000);
            frame.release();
            assertTrue(allocated < FRAMES / 40, "a round trip allocated " + allocated + " bytes in " + FRAMES / 4);
        }
    }
}
