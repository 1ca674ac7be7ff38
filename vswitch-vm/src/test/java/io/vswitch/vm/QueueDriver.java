package io.vswitch.vm;

import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.linux.Epoll;
import io.vswitch.linux.LibC;
import io.vswitch.linux.ErrnoException;
import io.vswitch.linux.PollableQueue;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;

/**
 * Plays the daemon's datapath thread for one queue in a test: waits on the queue's fd with a real
 * {@link Epoll} (registered once, as the daemon does), drains it in batches until a short one, and
 * keeps a copy of every frame before releasing it. Everything a VM port does on its own (accepting,
 * refusing, the stall timer, flushing) therefore only happens when the fd says so.
 */
final class QueueDriver implements AutoCloseable {
    private final PollableQueue queue;
    private final Epoll epoll;
    private final FrameBatch batch = new FrameBatch(FrameBatch.DEFAULT_CAPACITY);
    final List<byte[]> frames = new ArrayList<>();
    /** Headroom of every received frame, to check they come from the allocator with full headroom. */
    final List<Integer> headrooms = new ArrayList<>();
    int wakeups;
    boolean gone;

    QueueDriver(PollableQueue queue) throws ErrnoException {
        this.queue = queue;
        this.epoll = new Epoll(2);
        epoll.add(queue.fd(), LibC.EPOLLIN, 0);
    }

    /** One wait of at most {@code millis} and, if the fd was ready, one drain. */
    void step(int millis) throws ErrnoException {
        if (epoll.await(millis) > 0) {
            wakeups++;
            drain();
        }
    }

    private void drain() {
        while (true) {
            int n = queue.receive(batch);
            if (n < 0) {
                gone = true;
                return;
            }
            for (int i = 0; i < batch.count(); i++) {
                Frame f = batch.get(i);
                if (f.address() == 0) {
                    throw new AssertionError("received frame has no native address");
                }
                frames.add(f.toBytes());
                headrooms.add(f.headroom());
                f.release();
            }
            batch.clear();
            if (n < batch.capacity()) {
                return;
            }
        }
    }

    /** Steps until {@code condition} holds; fails after {@code max}. */
    void until(BooleanSupplier condition, Duration max, String what) throws ErrnoException {
        long deadline = System.nanoTime() + max.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + max + " waiting for " + what);
            }
            step(20);
        }
    }

    /** Steps for {@code time}, whatever happens. */
    void runFor(Duration time) throws ErrnoException {
        long deadline = System.nanoTime() + time.toNanos();
        while (System.nanoTime() < deadline) {
            step(10);
        }
    }

    @Override
    public void close() {
        epoll.close();
    }
}
