package io.vswitch.core.frame;

/**
 * A fixed set of reusable {@link Frame}s that one ingress queue fills per loop turn. Owned by the
 * queue's datapath thread.
 *
 * <p>A queue that reads one frame per syscall fills at most {@link #limit()} frames per turn (it
 * stops when {@link #next()} returns null): the datapath thread keeps the first turn after a wakeup
 * to one frame, so that frame is forwarded before another read is tried, and raises the limit while
 * turns come back full (see {@code DatapathThread}). A queue that takes many frames in one call
 * ({@code recvmmsg}) may fill up to the capacity, since that costs it no extra read; returning more
 * than the limit tells the thread the same as returning the limit: read on.
 */
public final class FrameBatch {
    public static final int DEFAULT_CAPACITY = 64;

    private final Frame[] frames;
    private int count;
    private int limit;

    public FrameBatch(int capacity) {
        frames = new Frame[capacity];
        for (int i = 0; i < capacity; i++) {
            frames[i] = new Frame();
        }
        limit = capacity;
    }

    public int capacity() {
        return frames.length;
    }

    /** How many frames this turn may hold: {@link #next()} returns null once that many are filled. */
    public int limit() {
        return limit;
    }

    /** Sets {@link #limit()} for the coming turns; between 1 and the capacity. */
    public void limit(int frames) {
        if (frames < 1 || frames > this.frames.length) {
            throw new IllegalArgumentException("limit " + frames + " outside 1.." + this.frames.length);
        }
        limit = frames;
    }

    public Frame get(int index) {
        return frames[index];
    }

    /** Frames filled so far in this turn. */
    public int count() {
        return count;
    }

    /** The next frame to fill, or null when the batch has reached its {@link #limit()}. */
    public Frame next() {
        return count < limit ? frames[count] : null;
    }

    /** Marks {@link #next()} as filled. */
    public void commit() {
        count++;
    }

    /**
     * Exchanges the frames at two positions, for a receiver that fills several frames at once and then
     * keeps only some of them: it moves each kept frame down to {@link #count()} before committing it.
     */
    public void swap(int i, int j) {
        Frame f = frames[i];
        frames[i] = frames[j];
        frames[j] = f;
    }

    public void clear() {
        count = 0;
    }
}
