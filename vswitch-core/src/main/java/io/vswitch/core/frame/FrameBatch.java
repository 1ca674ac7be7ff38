package io.vswitch.core.frame;

/**
 * A fixed set of reusable {@link Frame}s that one ingress queue fills per loop turn. Owned by the
 * queue's datapath thread.
 */
public final class FrameBatch {
    public static final int DEFAULT_CAPACITY = 64;

    private final Frame[] frames;
    private int count;

    public FrameBatch(int capacity) {
        frames = new Frame[capacity];
        for (int i = 0; i < capacity; i++) {
            frames[i] = new Frame();
        }
    }

    public int capacity() {
        return frames.length;
    }

    public Frame get(int index) {
        return frames[index];
    }

    /** Frames filled so far in this turn. */
    public int count() {
        return count;
    }

    /** The next frame to fill, or null when the batch is full. */
    public Frame next() {
        return count < frames.length ? frames[count] : null;
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
