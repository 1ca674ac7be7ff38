package io.vswitch.capture;

import io.vswitch.control.ControlServer;
import io.vswitch.core.frame.Frame;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One {@code vswitch capture} client: datapath threads offer copies of the port's frames (both
 * directions) to a bounded queue without ever blocking (when the client falls behind, frames are
 * dropped and counted), and the client's control thread streams them as pcap records.
 */
public final class CaptureSession implements ControlServer.Streaming {
    private static final int QUEUE = 8192;

    private final String port;
    private final long limit;
    private final Runnable onEnd;
    private final BlockingQueue<byte[]> queue = new ArrayBlockingQueue<>(QUEUE);
    private final AtomicLong dropped = new AtomicLong();
    private volatile boolean clientGone;

    /**
     * @param limit frames to send before ending, or 0 for no limit
     * @param onEnd detaches the session from the port when streaming ends
     */
    public CaptureSession(String port, long limit, Runnable onEnd) {
        this.port = port;
        this.limit = limit;
        this.onEnd = onEnd;
    }

    /** Called on datapath threads: copy, timestamp, offer. */
    void offer(Frame frame) {
        long micros = ChronoUnit.MICROS.between(Instant.EPOCH, Instant.now());
        if (!queue.offer(Pcap.record(micros, frame.toBytes()))) {
            dropped.incrementAndGet();
        }
    }

    @Override
    public Object header() {
        return Map.of("port", port, "format", "pcap", "count", limit);
    }

    @Override
    public void stream(OutputStream out, InputStream in) throws IOException {
        Thread watcher = new Thread(() -> {
            try {
                while (in.read() >= 0) {
                    // the client sends nothing; EOF means it went away
                }
            } catch (IOException e) {
                // a reset is a goodbye too
            }
            clientGone = true;
        }, "capture-watch-" + port);
        watcher.setDaemon(true);
        watcher.start();
        try {
            out.write(Pcap.globalHeader());
            out.flush();
            long sent = 0;
            while (!clientGone && (limit == 0 || sent < limit)) {
                byte[] record = queue.poll(200, TimeUnit.MILLISECONDS);
                if (record != null) {
                    out.write(record);
                    out.flush();
                    sent++;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            onEnd.run();
        }
    }

    public long dropped() {
        return dropped.get();
    }
}
