package io.vswitch.vm.vhost;

import com.kenai.jffi.MemoryIO;
import io.vswitch.linux.LibC;
import io.vswitch.linux.NativeBuffer;
import java.lang.invoke.VarHandle;

/**
 * One split virtqueue (virtio 1.x, 2.6) in guest memory, as the device side sees it: the descriptor
 * table, the available ring the guest fills and the used ring we fill, addressed through the guest's
 * {@link GuestMemory}.
 *
 * <p><b>Locking and lifetime.</b> Every method runs under this object's monitor: the datapath thread
 * that drains a guest TX ring, any datapath thread that writes a frame into a guest RX ring, and the
 * connection's control thread that configures, stops or re-maps the ring. Guest memory is only ever
 * touched under the lock and only through the {@link #memory} the ring holds then, so once the
 * control thread has swapped every ring to a new table (or to {@link GuestMemory#EMPTY}) under each
 * ring's lock, no thread can still be inside the old table and it may be unmapped. The lock is
 * uncontended except when several ports flood into the same guest queue at once.
 *
 * <p><b>A hostile guest.</b> Ring addresses are checked against the memory table once when set (the
 * whole ring must lie in one region) and indexes are masked, so ring accesses cannot leave the
 * mapping. Each descriptor is read once into locals, then checked: its buffer must lie inside one
 * region, chains may not be longer than their table (which is what a loop looks like) or
 * {@link #MAX_CHAIN}, indexes must be inside the table, and the avail index may not run ahead of us
 * by more than the ring size. A violation counts its {@link VhostEvent} and stops the ring until the
 * front-end configures it again; nothing is read or written outside a region.
 *
 * <p><b>Notifications.</b> With {@code VIRTIO_RING_F_EVENT_IDX} the guest is signalled only when the
 * used index passes the {@code used_event} it asked for, and we ask to be kicked only once we have
 * drained the avail ring ({@code avail_event}); without it, as the ring flags say.
 */
final class SplitVirtqueue {
    /** Longest descriptor chain accepted: virtio-net chains hold at most MAX_SKB_FRAGS + 2 buffers. */
    static final int MAX_CHAIN = 1024;
    static final int MAX_SIZE = 32768;

    static final int DESC_F_NEXT = 1;
    static final int DESC_F_WRITE = 2;
    static final int DESC_F_INDIRECT = 4;
    static final int AVAIL_F_NO_INTERRUPT = 1;
    static final int USED_F_NO_NOTIFY = 1;

    /** Results of {@link #nextChain}. */
    static final int EMPTY = -1;
    static final int FAILED = -2;

    private static final MemoryIO IO = MemoryIO.getInstance();
    private static final LibC LIBC = LibC.INSTANCE;
    private static final int DESC_SIZE = 16;

    final int index;
    private final VhostCounters counters;
    private GuestMemory memory = GuestMemory.EMPTY;

    private int size;
    private int mask;
    private long descUser;
    private long availUser;
    private long usedUser;
    private long desc;
    private long avail;
    private long used;
    private boolean addressed;

    private int lastAvail;
    private int usedIndex;
    /** The guest's avail index as last read (acquire); refreshed when we catch up with it. */
    private int availSeen;

    private boolean enabled;
    private boolean kicked;
    private boolean stopped;
    private boolean broken;
    private boolean eventIdx;
    private boolean indirect;

    private int kickFd = -1;
    private int callFd = -1;
    private int errFd = -1;
    private final NativeBuffer signal = new NativeBuffer(16);
    /** See {@link #notifications()}; written under the lock only, volatile for readers without it. */
    private volatile long notifications;

    /** Buffers of the chain(s) being walked: host address and length of each. */
    private final long[] segmentAddress = new long[MAX_CHAIN];
    private final int[] segmentLength = new int[MAX_CHAIN];
    private int segmentCount;
    private int chainHead;

    SplitVirtqueue(int index, VhostCounters counters) {
        this.index = index;
        this.counters = counters;
        signal.putLong(0, 1);
    }

    // ---- configuration (control thread, under the lock) ----

    synchronized void setSize(int num) throws BadRequest {
        if (num <= 0 || num > MAX_SIZE || (num & (num - 1)) != 0) {
            throw new BadRequest(VhostEvent.BAD_RING, "ring " + index + ": size " + num + " is not a power of two up to " + MAX_SIZE);
        }
        size = num;
        mask = num - 1;
        addressed = false;
    }

    synchronized void setBase(int base) {
        lastAvail = base & 0xffff;
        usedIndex = base & 0xffff;
        availSeen = lastAvail;
    }

    synchronized void setAddresses(long descAddress, long usedAddress, long availAddress) throws BadRequest {
        descUser = descAddress;
        usedUser = usedAddress;
        availUser = availAddress;
        translate();
    }

    /** Re-translates the ring under a new memory table; returns the table it replaced (to be closed later). */
    synchronized GuestMemory setMemory(GuestMemory table) {
        GuestMemory old = memory;
        memory = table;
        if (descUser != 0 && size != 0) {
            try {
                translate();
            } catch (BadRequest e) {
                addressed = false; // counted when the front-end sets addresses that fit
            }
        }
        return old;
    }

    private void translate() throws BadRequest {
        addressed = false;
        if (size == 0) {
            throw new BadRequest(VhostEvent.BAD_RING, "ring " + index + ": addresses before its size");
        }
        long d = memory.frontEndToHost(descUser, (long) DESC_SIZE * size);
        long a = memory.frontEndToHost(availUser, 6L + 2L * size);
        long u = memory.frontEndToHost(usedUser, 6L + 8L * size);
        if (d == 0 || a == 0 || u == 0) {
            throw new BadRequest(VhostEvent.BAD_RING, "ring " + index + ": addresses outside guest memory");
        }
        desc = d;
        avail = a;
        used = u;
        addressed = true;
    }

    synchronized void setFeatures(boolean eventIdx, boolean indirect) {
        this.eventIdx = eventIdx;
        this.indirect = indirect;
    }

    synchronized void setEnabled(boolean on) {
        enabled = on;
    }

    /** Takes {@code fd} as the kick eventfd (-1: none); returns the one it replaces, for the caller to close. */
    synchronized int setKick(int fd) {
        int old = kickFd;
        kickFd = fd;
        kicked = true;
        stopped = false;
        broken = false;
        return old;
    }

    synchronized int setCall(int fd) {
        int old = callFd;
        callFd = fd;
        return old;
    }

    synchronized int setErr(int fd) {
        int old = errFd;
        errFd = fd;
        return old;
    }

    /** GET_VRING_BASE: stops the ring and returns where the guest should resume. */
    synchronized int stop() {
        stopped = true;
        kicked = false;
        return lastAvail;
    }

    /** Forgets everything (disconnect, RESET_OWNER); returns the memory table it held. Closes its fds. */
    synchronized GuestMemory reset() {
        closeFds();
        GuestMemory old = memory;
        memory = GuestMemory.EMPTY;
        size = 0;
        mask = 0;
        descUser = availUser = usedUser = 0;
        desc = avail = used = 0;
        addressed = false;
        lastAvail = usedIndex = availSeen = 0;
        enabled = kicked = stopped = broken = false;
        return old;
    }

    private void closeFds() {
        for (int fd : new int[] {kickFd, callFd, errFd}) {
            if (fd >= 0) {
                LIBC.close(fd);
            }
        }
        kickFd = callFd = errFd = -1;
    }

    /** Frees the ring's native scratch; only after {@link #reset()} and once no thread uses the ring. */
    synchronized void close() {
        reset();
        signal.close();
    }

    int kickFd() {
        return kickFd;
    }

    synchronized boolean ready() {
        return addressed && enabled && kicked && !stopped && !broken;
    }

    synchronized boolean broken() {
        return broken;
    }

    // ---- data path (under the lock) ----

    /** Clears a pending kick so the level-triggered epoll set stops reporting it. */
    void consumeKick(long scratch) {
        if (kickFd >= 0) {
            LIBC.read(kickFd, scratch, 8);
        }
    }

    /**
     * Takes the next available chain and records its buffers; {@code writable} says whether the
     * device writes them (guest RX) or reads them (guest TX).
     *
     * @return the chain's total bytes, {@link #EMPTY} when the guest offers nothing (with EVENT_IDX,
     *     after asking to be kicked for the next one), or {@link #FAILED} when the guest broke the ring
     */
    int nextChain(boolean writable, long maxBytes) {
        if (!ready()) {
            return EMPTY;
        }
        if (lastAvail == availSeen && !refreshAvail()) {
            return broken ? FAILED : EMPTY;
        }
        int head = IO.getShort(avail + 4 + 2L * (lastAvail & mask)) & 0xffff;
        return walk(head, writable, maxBytes);
    }

    /** Reads the guest's avail index; true when it offers more. Asks for a kick first when empty (EVENT_IDX). */
    private boolean refreshAvail() {
        int seen = readAvailIndex();
        if (seen == lastAvail && eventIdx) {
            IO.putShort(used + 4 + 8L * size, (short) lastAvail); // avail_event: kick me at the next one
            VarHandle.fullFence();
            seen = readAvailIndex();
        }
        if (((seen - lastAvail) & 0xffff) > size) {
            fail(VhostEvent.AVAIL_JUMP);
            return false;
        }
        availSeen = seen;
        return seen != lastAvail;
    }

    private int readAvailIndex() {
        int idx = IO.getShort(avail + 2) & 0xffff;
        VarHandle.acquireFence();
        return idx;
    }

    private int walk(int head, boolean writable, long maxBytes) {
        if (head >= size) {
            return fail(VhostEvent.BAD_INDEX);
        }
        chainHead = head;
        segmentCount = 0;
        long table = desc;
        int tableSize = size;
        boolean inIndirect = false;
        int i = head;
        int visited = 0;
        long total = 0;
        while (true) {
            long d = table + (long) DESC_SIZE * i;
            long address = IO.getLong(d);
            long length = IO.getInt(d + 8) & 0xffffffffL;
            int flags = IO.getShort(d + 12) & 0xffff;
            int next = IO.getShort(d + 14) & 0xffff;
            if (++visited > tableSize || segmentCount >= MAX_CHAIN) {
                return fail(VhostEvent.CHAIN_TOO_LONG);
            }
            if ((flags & DESC_F_INDIRECT) != 0) {
                if (!indirect || inIndirect || (flags & DESC_F_NEXT) != 0 || length % DESC_SIZE != 0 || length == 0
                        || length / DESC_SIZE > MAX_SIZE) {
                    return fail(VhostEvent.BAD_DESCRIPTOR);
                }
                long host = memory.guestToHost(address, length);
                if (host == 0) {
                    return fail(VhostEvent.BAD_ADDRESS);
                }
                table = host;
                tableSize = (int) (length / DESC_SIZE);
                inIndirect = true;
                visited = 0;
                i = 0;
                continue;
            }
            if (((flags & DESC_F_WRITE) != 0) != writable) {
                return fail(VhostEvent.BAD_DESCRIPTOR);
            }
            if (length > 0) {
                long host = memory.guestToHost(address, length);
                if (host == 0) {
                    return fail(VhostEvent.BAD_ADDRESS);
                }
                total += length;
                if (total > maxBytes) {
                    return fail(VhostEvent.BAD_LENGTH);
                }
                segmentAddress[segmentCount] = host;
                segmentLength[segmentCount] = (int) length;
                segmentCount++;
            }
            if ((flags & DESC_F_NEXT) == 0) {
                return (int) total;
            }
            if (next >= tableSize) {
                return fail(VhostEvent.BAD_INDEX);
            }
            i = next;
        }
    }

    private int fail(VhostEvent event) {
        broken = true;
        counters.count(event);
        return FAILED;
    }

    /** Copies the chain {@link #nextChain} recorded (device-readable) to {@code to}. */
    void copyChainTo(long to) {
        long at = to;
        for (int s = 0; s < segmentCount; s++) {
            IO.copyMemory(segmentAddress[s], at, segmentLength[s]);
            at += segmentLength[s];
        }
    }

    /** Marks the recorded chain used with {@code written} bytes (0 for a TX chain); not yet visible. */
    void consumeChain(int written) {
        long element = used + 4 + 8L * (usedIndex & mask);
        IO.putInt(element, chainHead);
        IO.putInt(element + 4, written);
        usedIndex = (usedIndex + 1) & 0xffff;
        lastAvail = (lastAvail + 1) & 0xffff;
    }

    /** Index the used ring will have after {@link #publish()}; for the notification decision. */
    int usedIndex() {
        return usedIndex;
    }

    /**
     * Makes the used entries since {@code before} visible and signals the guest if it asked, once for
     * all of them however many there are: one release store of the used index, one full fence (the
     * store must be visible before we read whether the guest wants a signal, or a guest that re-enabled
     * interrupts meanwhile would sleep on a ring we filled), one decision over the whole range
     * {@code before..usedIndex} and at most one write of the call eventfd. With EVENT_IDX that is the
     * kernel's {@code vring_need_event(used_event, new, old)}: the guest wants a signal when its
     * {@code used_event} lies inside the range.
     */
    void publish(int before) {
        if (before == usedIndex || !addressed) {
            return;
        }
        VarHandle.releaseFence();
        IO.putShort(used + 2, (short) usedIndex);
        VarHandle.fullFence();
        boolean signalGuest;
        if (eventIdx) {
            int usedEvent = IO.getShort(avail + 4 + 2L * size) & 0xffff;
            signalGuest = ((usedIndex - usedEvent - 1) & 0xffff) < ((usedIndex - before) & 0xffff);
        } else {
            signalGuest = (IO.getShort(avail) & AVAIL_F_NO_INTERRUPT) == 0;
        }
        if (signalGuest && callFd >= 0) {
            LIBC.write(callFd, signal.address(), 8);
            notifications++; // only lock holders write it, so the non-atomic increment loses nothing
        }
    }

    /**
     * How often this ring's call eventfd was written (the guest's interrupts for it, before the guest's
     * own coalescing), over the port's life. Any thread reads it without the lock.
     */
    long notifications() {
        return notifications;
    }

    /**
     * Writes {@code length} bytes from {@code from} (virtio-net header first) into guest buffers and
     * marks them used, not yet visible: one chain, or with {@code mergeable} as many as it takes, with
     * {@code num_buffers} (bytes 10-11 of the header) set to how many. The caller makes a whole batch
     * of deliveries visible with one {@link #publish}. When the guest has too little room nothing of
     * this frame is marked; the chains looked at stay available.
     *
     * @return true if delivered; false when the guest had no room (or broke the ring: see {@link #broken()})
     */
    boolean deliver(long from, int length, boolean mergeable, long maxBytes) {
        int savedAvail = lastAvail;
        int savedUsed = usedIndex;
        int copied = 0;
        int buffers = 0;
        // Each byte of num_buffers on its own: the guest may split the header over two descriptors.
        long numBuffersLow = 0;
        long numBuffersHigh = 0;
        while (copied < length) {
            int room = nextChain(true, maxBytes);
            if (room < 0 || (!mergeable && buffers > 0)) {
                lastAvail = savedAvail;
                usedIndex = savedUsed;
                return false;
            }
            int written = 0;
            for (int s = 0; s < segmentCount && copied < length; s++) {
                int n = Math.min(segmentLength[s], length - copied);
                if (copied <= 10 && copied + n > 10) {
                    numBuffersLow = segmentAddress[s] + (10 - copied);
                }
                if (copied <= 11 && copied + n > 11) {
                    numBuffersHigh = segmentAddress[s] + (11 - copied);
                }
                IO.copyMemory(from + copied, segmentAddress[s], n);
                copied += n;
                written += n;
            }
            consumeChain(written);
            buffers++;
        }
        if (numBuffersHigh != 0) { // little-endian, as every virtio 1.x field
            IO.putByte(numBuffersLow, (byte) buffers);
            IO.putByte(numBuffersHigh, (byte) (buffers >>> 8));
        }
        return true;
    }
}
