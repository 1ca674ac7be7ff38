package io.vswitch.vm.vhost;

import io.vswitch.linux.ErrnoException;
import io.vswitch.linux.SharedMemory;
import java.util.ArrayList;
import java.util.List;

/**
 * A guest's memory as SET_MEM_TABLE described it: each region's fd mapped {@code MAP_SHARED} into
 * this process, with the guest-physical and QEMU-virtual address ranges it covers.
 *
 * <p>Every access to guest memory goes through {@link #guestToHost} (descriptor addresses, which are
 * guest-physical) or {@link #frontEndToHost} (ring addresses from SET_VRING_ADDR, which are QEMU's
 * own virtual addresses): both return a host address only when the whole range lies inside one
 * region, and 0 otherwise, whatever the guest wrote (overflowing sums and huge lengths included).
 * A range that crosses from one region into the next is refused too (QEMU 7.2 puts a 256 MiB guest in
 * one region; larger guests split at the PCI hole, where no buffer can straddle anyway). A region that
 * runs past the end of its file is refused when the table arrives: its pages past the end would fault.
 *
 * <p>Immutable after construction and read by any datapath thread; {@link #close()} unmaps, so it
 * may run only once no thread can still use an address it returned (see {@link SplitVirtqueue}: each
 * ring swaps its table under its own lock, and the old table is closed after every ring moved on).
 */
final class GuestMemory implements AutoCloseable {
    static final GuestMemory EMPTY = new GuestMemory(new long[0], new long[0], new long[0], new long[0], List.of());

    private final long[] guestStart;
    private final long[] size;
    private final long[] userStart;
    private final long[] hostStart;
    private final List<SharedMemory> mappings;

    private GuestMemory(long[] guestStart, long[] size, long[] userStart, long[] hostStart, List<SharedMemory> mappings) {
        this.guestStart = guestStart;
        this.size = size;
        this.userStart = userStart;
        this.hostStart = hostStart;
        this.mappings = mappings;
    }

    /**
     * Maps the regions. {@code fds[i]} belongs to region i and is not closed here (the mapping outlives
     * it; the caller closes the fds).
     */
    static GuestMemory map(long[] guestStart, long[] size, long[] userStart, long[] mmapOffset, int[] fds)
            throws BadRequest, ErrnoException {
        int n = guestStart.length;
        for (int i = 0; i < n; i++) {
            if (size[i] <= 0 || mmapOffset[i] < 0 || guestStart[i] + size[i] - 1 < guestStart[i]
                    || userStart[i] + size[i] - 1 < userStart[i] || mmapOffset[i] + size[i] < 0) {
                throw new BadRequest(VhostEvent.BAD_MEMORY_TABLE, "region " + i + " has size " + size[i]
                        + " at guest 0x" + Long.toHexString(guestStart[i]) + " / mmap offset " + mmapOffset[i]);
            }
            for (int j = 0; j < i; j++) {
                if (overlaps(guestStart[i], size[i], guestStart[j], size[j])
                        || overlaps(userStart[i], size[i], userStart[j], size[j])) {
                    throw new BadRequest(VhostEvent.OVERLAPPING_REGIONS, "regions " + j + " and " + i + " overlap");
                }
            }
        }
        for (int i = 0; i < n; i++) {
            long file = SharedMemory.fileSize(fds[i]);
            if (mmapOffset[i] + size[i] > file) {
                // Mapping it would work, but the first access past the file's end would raise SIGBUS.
                throw new BadRequest(VhostEvent.BAD_MEMORY_TABLE, "region " + i + " ends at byte " + (mmapOffset[i] + size[i])
                        + " of its file, which has " + file);
            }
        }
        long[] host = new long[n];
        List<SharedMemory> maps = new ArrayList<>(n);
        try {
            for (int i = 0; i < n; i++) {
                // Map from offset 0 as DPDK does: the offset need not be page-aligned.
                SharedMemory m = SharedMemory.map(fds[i], mmapOffset[i] + size[i]);
                maps.add(m);
                host[i] = m.address() + mmapOffset[i];
            }
        } catch (ErrnoException e) {
            maps.forEach(SharedMemory::close);
            throw e;
        }
        return new GuestMemory(guestStart.clone(), size.clone(), userStart.clone(), host, List.copyOf(maps));
    }

    private static boolean overlaps(long a, long aSize, long b, long bSize) {
        return Long.compareUnsigned(a, b + bSize - 1) <= 0 && Long.compareUnsigned(b, a + aSize - 1) <= 0;
    }

    int regionCount() {
        return guestStart.length;
    }

    /** Host address of guest-physical {@code [address, address + length)}, or 0 if not inside one region. */
    long guestToHost(long address, long length) {
        return translate(guestStart, address, length);
    }

    /** Host address of QEMU-virtual {@code [address, address + length)}, or 0 if not inside one region. */
    long frontEndToHost(long address, long length) {
        return translate(userStart, address, length);
    }

    private long translate(long[] starts, long address, long length) {
        if (length < 0) {
            return 0;
        }
        for (int i = 0; i < starts.length; i++) {
            long offset = address - starts[i];
            // Unsigned: an address below the region wraps to a huge offset and fails here too.
            if (Long.compareUnsigned(offset, size[i]) < 0 && length <= size[i] - offset) {
                return hostStart[i] + offset;
            }
        }
        return 0;
    }

    /** Unmaps every region; see the class comment for when that is allowed. */
    @Override
    public void close() {
        mappings.forEach(SharedMemory::close);
    }
}
