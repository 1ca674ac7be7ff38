package io.vswitch.core.alloc;

import io.vswitch.core.frame.Frame;
import io.vswitch.core.port.QueueCounters;

/**
 * Per-queue allocator of frame buffers: the user-space mirror of the kernel TAP's per-queue
 * {@code page_frag} and {@code tun_build_skb()} (patch "tap: use build_skb() for small packet").
 *
 * <p><b>Fragments.</b> Small frames are carved bump-pointer style out of large direct chunks, each
 * fragment starting on a {@value #ALIGN}-byte boundary (the kernel's SKB_DATA_ALIGN) with
 * {@value #HEADROOM} bytes of headroom before the Ethernet header (the kernel's TUN_RX_PAD). Every
 * chunk counts its live frames; when the count falls to zero the chunk is reused in place, the way
 * {@code skb_page_frag_refill} reuses a page whose refcount fell back to one. Nothing is returned to
 * a list, and no lock is taken: an allocator and every frame carved from it belong to one thread.
 *
 * <p><b>Headroom = {@value #HEADROOM}.</b> Enough for the 12-byte virtio-net header, a pushed 4-byte
 * 802.1Q tag and a VXLAN outer header over IPv6 (Ethernet 14 + IPv6 40 + UDP 8 + VXLAN 8 = 70):
 * 12 + 4 + 70 = 86. Fragments start 64-byte aligned, so the Ethernet header starts at 86 = 2 mod 4
 * and the IP header after it at 100 = 0 mod 4: the IP header is 4-byte aligned, which is what the
 * kernel's NET_IP_ALIGN (2) buys. 86 is already the smallest value that both fits and aligns.
 *
 * <p><b>Fast path or large path, decided up front</b> like {@code tun_can_build_skb}: a frame of at
 * most {@link #MAX_FRAGMENT_FRAME} bytes takes a fragment; a GSO super-frame (up to 64 KiB plus
 * headers) takes one of a few per-queue large buffers. Ports that only learn the length after the
 * read (a TAP) {@link #reserve} a full fragment, read into it with a spare large buffer behind it
 * ({@link #spareLarge}), then settle with {@link #completeRead}. A longer frame that cannot be a
 * super-frame (a jumbo frame, or any read bounded by the port's MTU) takes a fragment of its bound
 * from the chunks instead ({@link #reserve(Frame, int)}, up to {@link #maxReservable()}): the large
 * buffers are too few to hold a batch of them.
 *
 * <p><b>Bounded.</b> At most {@code maxChunks} chunks and {@code maxLarge} large buffers; when all
 * are busy the allocation fails, is counted in {@link #exhausted()} and, once the queue is on a
 * bridge, in the queue's {@link QueueCounters#rxNoBuffer()} ({@link #countRefusalsIn}), and the
 * caller leaves the frame unread in the kernel's queue (or, where the frame is already read, drops
 * it). The allocator never blocks (the seed's non-blocking condition).
 */
public final class FragAllocator {
    public static final int HEADROOM = 86;
    public static final int ALIGN = 64;
    /** Largest fragment carved, headroom included. */
    public static final int FRAGMENT_SIZE = 2048;
    /** Largest frame (virtio-net header excluded: it lives in the headroom) on the fragment path. */
    public static final int MAX_FRAGMENT_FRAME = FRAGMENT_SIZE - HEADROOM;
    /** Largest frame on the large path: a 64 KiB IP packet under Ethernet and two VLAN tags. */
    public static final int MAX_LARGE_FRAME = 65535 + 14 + 8;
    public static final int DEFAULT_CHUNK_SIZE = 64 * 1024;
    public static final int DEFAULT_MAX_CHUNKS = 64;
    public static final int DEFAULT_MAX_LARGE = 8;

    private static final int LARGE_BUFFER_SIZE = align(HEADROOM + MAX_LARGE_FRAME);

    private final int chunkSize;
    private final Chunk[] chunks;
    private final Chunk[] large;
    private final NativeAddress addresses;
    private int chunkCount;
    private int largeCount;
    private Chunk current;
    private int offset;
    private int scanCursor;
    private long exhausted;
    /** Where refusals are counted; set by the control plane when the queue joins a bridge. */
    private volatile QueueCounters refusals;

    /** An allocator with the default sizes: 64 chunks of 64 KiB and 8 large buffers (4.5 MiB at most). */
    public FragAllocator(NativeAddress addresses) {
        this(DEFAULT_CHUNK_SIZE, DEFAULT_MAX_CHUNKS, DEFAULT_MAX_LARGE, addresses);
    }

    public FragAllocator(int chunkSize, int maxChunks, int maxLarge, NativeAddress addresses) {
        if (chunkSize < FRAGMENT_SIZE || chunkSize % ALIGN != 0) {
            throw new IllegalArgumentException("chunk size must be a multiple of " + ALIGN + " and at least " + FRAGMENT_SIZE);
        }
        if (maxChunks < 1 || maxLarge < 0) {
            throw new IllegalArgumentException("need at least one chunk and a non-negative large-buffer count");
        }
        this.chunkSize = chunkSize;
        this.chunks = new Chunk[maxChunks];
        this.large = new Chunk[maxLarge];
        this.addresses = addresses;
    }

    /**
     * Attaches {@code frame} to a buffer for a frame of {@code length} bytes: a fragment when it fits,
     * a large buffer otherwise. The frame's length is set to {@code length}.
     *
     * @return false if the queue's memory cap is reached (counted; the caller drops the frame)
     */
    public boolean allocate(Frame frame, int length) {
        boolean ok;
        if (length <= MAX_FRAGMENT_FRAME) {
            ok = carve(frame, align(HEADROOM + length));
        } else if (length <= MAX_LARGE_FRAME) {
            Chunk buffer = spareLarge();
            ok = buffer != null;
            if (ok) {
                attachLarge(frame, buffer);
            }
        } else {
            throw new IllegalArgumentException("frame of " + length + " bytes exceeds " + MAX_LARGE_FRAME);
        }
        if (ok) {
            frame.setLength(length);
        }
        return ok;
    }

    /**
     * Attaches {@code frame} to a full-size fragment for a read whose length is not known yet.
     * Settle with {@link #completeRead} once it is.
     */
    public boolean reserve(Frame frame) {
        return carve(frame, FRAGMENT_SIZE);
    }

    /**
     * Attaches {@code frame} to a fragment with room for a frame of up to {@code maxLength} bytes, for
     * a read whose length is not known yet but bounded by less than a chunk: a VXLAN socket's datagrams
     * are bounded by its ports' inner MTU, a jumbo frame at most, so a read into such a fragment needs
     * no large buffer behind it. Carved from the chunks like any fragment (seven 9 KiB ones fit a
     * 64 KiB chunk), not from the few large buffers, so a batch of reads can all be jumbo. Settle with
     * {@link #trim} or {@link #cancel}.
     *
     * @throws IllegalArgumentException if such a fragment would not fit a chunk
     */
    public boolean reserve(Frame frame, int maxLength) {
        if (maxLength > maxReservable()) {
            throw new IllegalArgumentException("a frame of " + maxLength + " bytes does not fit a " + chunkSize + "-byte chunk");
        }
        return carve(frame, align(HEADROOM + maxLength));
    }

    /** Longest frame {@link #reserve(Frame, int)} takes: a chunk less the headroom. */
    public int maxReservable() {
        return chunkSize - HEADROOM;
    }

    /**
     * A large buffer no frame is using, for the overflow of a read into a {@link #reserve reserved}
     * fragment; creates one while under the cap. Not claimed until {@link #completeRead} moves a frame
     * into it.
     *
     * @return null when every large buffer is busy (the caller should stop reading until frames die)
     */
    public Chunk spareLarge() {
        for (int i = 0; i < largeCount; i++) {
            if (large[i].live() == 0) {
                return large[i];
            }
        }
        if (largeCount < large.length) {
            Chunk created = new Chunk(LARGE_BUFFER_SIZE, addresses);
            large[largeCount++] = created;
            return created;
        }
        refused();
        return null;
    }

    /**
     * Offset in a large buffer where a read that overflows a {@link #reserve reserved} fragment
     * continues: the head moved over lands at [HEADROOM - prefix, FRAGMENT_SIZE), so the rest follows
     * at FRAGMENT_SIZE whatever the prefix.
     */
    public static final int LARGE_OVERFLOW_OFFSET = FRAGMENT_SIZE;

    /** Room in a large buffer from {@link #LARGE_OVERFLOW_OFFSET} to its end. */
    public static int largeOverflowCapacity() {
        return LARGE_BUFFER_SIZE - LARGE_OVERFLOW_OFFSET;
    }

    /**
     * Settles a read of {@code bytesRead} bytes that went to the reserved fragment of {@code frame},
     * starting {@code prefix} bytes before the frame (the virtio-net header, or 0), with anything past
     * the fragment's end continuing in {@code overflow} at {@link #LARGE_OVERFLOW_OFFSET}. A frame that
     * fits gives back the unused tail of its fragment; one that does not moves into the large buffer
     * (its head is copied over, about 2 KiB, and the fragment is given back).
     */
    public void completeRead(Frame frame, int prefix, int bytesRead, Chunk overflow) {
        int frameLength = bytesRead - prefix;
        int inFragment = frame.capacity();
        if (frameLength <= inFragment) {
            frame.setLength(frameLength);
            trim(frame);
            return;
        }
        if (overflow == null) {
            throw new IllegalStateException("read overflowed the fragment but no large buffer was given");
        }
        int headBytes = prefix + inFragment;
        int largeStart = HEADROOM - prefix;
        overflow.buffer().put(largeStart, frame.buffer(), frame.start() - prefix, headBytes);
        cancel(frame);
        attachLarge(frame, overflow);
        frame.setLength(frameLength);
    }

    /**
     * Undoes a {@link #reserve} whose read brought nothing (EAGAIN): the fragment goes back to the
     * chunk if it was the last one carved, and the frame is released.
     */
    public void cancel(Frame frame) {
        if (frame.chunk() == current && frame.limit() == offset) {
            offset = frame.fragmentStart();
        }
        frame.release();
    }

    /** Gives back the tail of the most recently carved fragment beyond the frame's length. */
    public void trim(Frame frame) {
        if (frame.chunk() == current && frame.limit() == offset) {
            int end = frame.fragmentStart() + align(frame.start() - frame.fragmentStart() + frame.length());
            offset = end;
        }
    }

    /** Allocations refused because the cap was reached. */
    public long exhausted() {
        return exhausted;
    }

    /**
     * Counts every later refusal in {@code counters} (those of the queue this allocator serves), where
     * stats and metrics read the per-queue counters. Control plane, when the port is attached; the
     * volatile write publishes it to the queue's thread, the only one that allocates.
     */
    public void countRefusalsIn(QueueCounters counters) {
        refusals = counters;
    }

    private void refused() {
        exhausted++;
        QueueCounters counters = refusals;
        if (counters != null) {
            counters.refusedBuffer();
        }
    }

    /** Chunks created so far (for tests and stats; bounded by the cap). */
    public int chunkCount() {
        return chunkCount;
    }

    public int largeCount() {
        return largeCount;
    }

    /** Frames carved and not yet released, over all chunks and large buffers (cold path: tests, stats). */
    public int liveFrames() {
        int live = 0;
        for (int i = 0; i < chunkCount; i++) {
            live += chunks[i].live();
        }
        for (int i = 0; i < largeCount; i++) {
            live += large[i].live();
        }
        return live;
    }

    /** Bytes of direct memory this allocator holds. */
    public long memoryBytes() {
        return (long) chunkCount * chunkSize + (long) largeCount * LARGE_BUFFER_SIZE;
    }

    private boolean carve(Frame frame, int size) {
        Chunk chunk = current;
        if (chunk != null && chunk.live() == 0) {
            offset = 0;
        }
        if (chunk == null || offset + size > chunkSize) {
            chunk = nextChunk();
            if (chunk == null) {
                refused();
                return false;
            }
            current = chunk;
            offset = 0;
        }
        frame.attach(chunk, offset, HEADROOM, offset + size);
        chunk.retain();
        offset += size;
        return true;
    }

    private Chunk nextChunk() {
        int n = chunkCount;
        for (int i = 0; i < n; i++) {
            int idx = scanCursor;
            scanCursor = idx + 1 == n ? 0 : idx + 1;
            Chunk candidate = chunks[idx];
            if (candidate.live() == 0 && candidate != current) {
                return candidate;
            }
        }
        if (n < chunks.length) {
            Chunk created = new Chunk(chunkSize, addresses);
            chunks[chunkCount++] = created;
            return created;
        }
        return null;
    }

    private static void attachLarge(Frame frame, Chunk buffer) {
        frame.attach(buffer, 0, HEADROOM, buffer.capacity());
        buffer.retain();
    }

    static int align(int size) {
        return (size + ALIGN - 1) & -ALIGN;
    }
}
