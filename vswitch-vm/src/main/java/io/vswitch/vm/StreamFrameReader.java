package io.vswitch.vm;

import com.kenai.jffi.MemoryIO;
import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.linux.ErrnoException;
import io.vswitch.linux.LibC;
import io.vswitch.linux.NativeBuffer;
import io.vswitch.linux.TimerFd;
import io.vswitch.vm.VmPort.Event;

/**
 * The receive side of a {@link VmStreamPort}: turns the guest's byte stream (4-byte big-endian length,
 * then the frame) into frames of the queue's allocator.
 *
 * <p>The connection is read in large reads into a staging buffer; each complete frame is copied once
 * into a fragment of its length carved from the queue's chunks (see {@link #take}); an incomplete tail
 * waits for the next read. A prefix of zero or
 * over the largest frame, end of stream, a read error, or a frame left unfinished for longer than the
 * stall timeout is a {@link #failure()}: the port closes that connection with it as the reason.
 *
 * <p>Used by the port's datapath thread only.
 */
final class StreamFrameReader {
    private static final int PREFIX = StreamConnection.PREFIX;
    private static final int STAGING_MIN = 128 * 1024;
    private static final LibC LIBC = LibC.INSTANCE;
    private static final MemoryIO IO = MemoryIO.getInstance();

    private final int maxFrame;
    /** Brings the datapath thread back: for a stalled frame, and when the allocator was out of buffers. */
    private final TimerFd timer;
    private final long stallNanos;
    private final NativeBuffer staging;
    private final int stagingSize;
    /** Staged bytes not yet turned into frames: [readOffset, writeOffset). */
    private int readOffset;
    private int writeOffset;
    private long lastReadNanos;
    private Event failure;
    private String failureDetail;

    StreamFrameReader(int maxFrame, TimerFd timer, long stallNanos) {
        this.maxFrame = maxFrame;
        this.timer = timer;
        this.stallNanos = stallNanos;
        this.stagingSize = Math.max(STAGING_MIN, 2 * (PREFIX + maxFrame));
        this.staging = new NativeBuffer(stagingSize);
    }

    /**
     * Turns staged and newly read bytes of {@code fd} into frames until the batch is full or the socket
     * has nothing more. When it stops on a {@link #failure()}, the frames before it are still returned.
     *
     * @return the frames committed to {@code batch}
     */
    int read(int fd, FrameBatch batch, FragAllocator allocator) {
        long base = staging.address();
        int n = 0;
        boolean drained = false;
        while (true) {
            while (writeOffset - readOffset >= PREFIX) {
                int length = Integer.reverseBytes(IO.getInt(base + readOffset));
                if (length == 0) {
                    return fail(n, Event.ZERO_LENGTH, "a zero length prefix");
                }
                if (length < 0 || length > maxFrame) {
                    return fail(n, Event.OVERSIZE_LENGTH, "a length prefix of " + Integer.toUnsignedString(length)
                            + " bytes (this port takes at most " + maxFrame + ")");
                }
                if (writeOffset - readOffset - PREFIX < length) {
                    break;
                }
                Frame frame = batch.next();
                if (frame == null) {
                    return n;
                }
                if (!take(allocator, frame, length)) {
                    // Out of buffers until this batch is released: come back right after.
                    long now = System.nanoTime();
                    timer.fireAt(now, now);
                    return n;
                }
                IO.copyMemory(base + readOffset + PREFIX, frame.address(), length);
                batch.commit();
                n++;
                readOffset += PREFIX + length;
            }
            if (readOffset == writeOffset) {
                readOffset = 0;
                writeOffset = 0;
            } else if (stagingSize - readOffset < PREFIX + maxFrame) {
                // Move the unfinished frame to the front so a whole one fits behind it. It is shorter
                // than PREFIX + maxFrame <= stagingSize / 2 < readOffset, so the copy cannot overlap.
                int kept = writeOffset - readOffset;
                IO.copyMemory(base + readOffset, base, kept);
                readOffset = 0;
                writeOffset = kept;
            }
            if (drained) {
                break;
            }
            int room = stagingSize - writeOffset;
            long read = LIBC.read(fd, base + writeOffset, room);
            if (read > 0) {
                writeOffset += (int) read;
                lastReadNanos = System.nanoTime();
                // A short read emptied the socket: parse, then stop without another read that would
                // only say EAGAIN (level-triggered epoll reports whatever arrives meanwhile).
                drained = read < room;
                continue;
            }
            if (read == 0) {
                return fail(n, Event.PEER_CLOSED, null);
            }
            int errno = LibC.errno();
            if (errno == LibC.EAGAIN) {
                break;
            }
            if (errno != LibC.EINTR) {
                return errno == LibC.ECONNRESET ? fail(n, Event.PEER_CLOSED, null)
                        : fail(n, Event.READ_ERROR, new ErrnoException("read", errno).getMessage());
            }
        }
        if (writeOffset > readOffset) {
            // A frame has started but not finished: make sure we look again if nothing more comes.
            timer.fireAt(lastReadNanos + stallNanos, System.nanoTime());
        }
        return n;
    }

    /**
     * Attaches {@code frame} to a buffer for a frame of {@code length} bytes: a fragment of that length
     * from the chunks, jumbo or not. The stream carries no GSO super-frames, and the queue's few large
     * buffers (kept for those) would stop a batch of jumbo frames at {@link
     * FragAllocator#DEFAULT_MAX_LARGE}; only a frame longer than a chunk (an MTU near 64 KiB) takes one.
     */
    private static boolean take(FragAllocator allocator, Frame frame, int length) {
        if (length > allocator.maxReservable()) {
            return allocator.allocate(frame, length);
        }
        if (!allocator.reserve(frame, length)) {
            return false;
        }
        frame.setLength(length);
        return true;
    }

    /**
     * On the timer: records a {@link Event#STALLED} failure when an unfinished frame has waited longer
     * than the stall timeout, re-arms the timer when it has not yet.
     *
     * @return true when the connection stalled
     */
    boolean checkStall(long now) {
        if (writeOffset == readOffset) {
            return false;
        }
        if (writeOffset - readOffset >= PREFIX) {
            int length = Integer.reverseBytes(IO.getInt(staging.address() + readOffset));
            if (writeOffset - readOffset - PREFIX >= length) {
                return false; // a whole frame is waiting: the next receive takes it
            }
        }
        long idle = now - lastReadNanos;
        if (idle >= stallNanos) {
            fail(0, Event.STALLED, (writeOffset - readOffset) + " bytes of an unfinished frame and nothing more for "
                    + idle / 1_000_000 + " ms");
            return true;
        }
        timer.fireAt(lastReadNanos + stallNanos, now);
        return false;
    }

    /** Why the connection must be closed, or null; cleared by {@link #reset()}. */
    Event failure() {
        return failure;
    }

    /** What {@link #failure()} was about, for the log; null when the event says it all. */
    String failureDetail() {
        return failureDetail;
    }

    /** Forgets the staged bytes and any failure, for the next connection; returns how many bytes were discarded. */
    int reset() {
        int unfinished = writeOffset - readOffset;
        readOffset = 0;
        writeOffset = 0;
        failure = null;
        failureDetail = null;
        return unfinished;
    }

    void close() {
        staging.close();
    }

    private int fail(int framesSoFar, Event event, String detail) {
        failure = event;
        failureDetail = detail;
        return framesSoFar;
    }
}
