package io.vswitch.capture;

import io.vswitch.control.ControlServer;
import io.vswitch.core.frame.Frame;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One {@code vswitch capture} client: datapath threads offer copies of the port's frames (both
 * directions) to a bounded queue without ever blocking (when the client falls behind, frames are
 * dropped and counted), and the control server pulls them as pcap records for the client whenever
 * the client keeps up (see {@link ControlServer.Streaming}).
 */
public final class CaptureSession implements ControlServer.Streaming {
    private static final int QUEUE = 8192;

    private final String port;
    private final long limit;
    private final Runnable onEnd;
    private final BlockingQueue<byte[]> queue = new ArrayBlockingQueue<>(QUEUE);
    private final AtomicLong dropped = new AtomicLong();
    /** Records handed to the control server; touched only on its event loop. */
    private long sent;

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
    public byte[] preamble() {
        return Pcap.globalHeader();
    }

    /** Called on the control server's event loop only. */
    @Override
    public byte[] poll() {
        byte[] record = queue.poll();
        if (record != null) {
            sent++;
        }
        return record;
    }

    @Override
    public boolean finished() {
        return limit != 0 && sent >= limit;
    }

    @Override
    public void end() {
        onEnd.run();
    }

    public long dropped() {
        return dropped.get();
    }
}
