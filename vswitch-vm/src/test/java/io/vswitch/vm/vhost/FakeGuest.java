package io.vswitch.vm.vhost;

import com.kenai.jffi.MemoryIO;
import io.vswitch.linux.ErrnoException;
import io.vswitch.linux.FdPassing;
import io.vswitch.linux.LibC;
import io.vswitch.linux.NativeBuffer;
import io.vswitch.linux.SharedMemory;
import io.vswitch.linux.UnixAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Plays QEMU and its guest for the unit tests: guest memory is a real memfd mapped here and passed
 * to the port with SCM_RIGHTS, the rings live in it, the front-end speaks the vhost-user protocol over
 * a real unix socket in the order QEMU 7.2 does, and kicks and calls are real eventfds. The "guest
 * driver" methods fill and read the split rings the way virtio-net does.
 *
 * <p>Layout in guest-physical memory: ring r's descriptor table at {@code 64 KiB * (r + 1)}, its avail
 * ring 4 KiB later, its used ring 8 KiB later; ring r's buffers from {@code 1 MiB * (r + 1)}, one
 * {@link #BUFFER} per descriptor. QEMU's virtual address of guest-physical 0 is {@link #USER_BASE}.
 */
final class FakeGuest implements AutoCloseable {
    static final long MEMORY = 16L << 20;
    static final long USER_BASE = 0x7f12_3400_0000L;
    static final int RING = 256;
    static final int BUFFER = 4096;
    static final long FEATURES = VhostFeatures.OFFERED;

    private static final MemoryIO IO = MemoryIO.getInstance();
    private static final LibC LIBC = LibC.INSTANCE;

    final int memfd;
    final SharedMemory memory;
    final int rings;
    final int fd;
    private final FdPassing passing = new FdPassing();
    private final NativeBuffer message = new NativeBuffer(VhostMessage.HEADER + VhostMessage.MAX_PAYLOAD);
    final int[] kick;
    final int[] call;
    private final int[] availIdx;
    private final int[] usedSeen;
    private final NativeBuffer eventValue = new NativeBuffer(8);

    FakeGuest(Path socket, int queuePairs) throws ErrnoException {
        rings = 2 * queuePairs;
        memfd = SharedMemory.createMemfd("fake-guest", MEMORY);
        memory = SharedMemory.map(memfd, MEMORY);
        kick = new int[rings];
        call = new int[rings];
        availIdx = new int[rings];
        usedSeen = new int[rings];
        for (int r = 0; r < rings; r++) {
            kick[r] = LIBC.eventfd(0, LibC.EFD_CLOEXEC | LibC.EFD_NONBLOCK);
            call[r] = LIBC.eventfd(0, LibC.EFD_CLOEXEC | LibC.EFD_NONBLOCK);
        }
        fd = LIBC.socket(LibC.AF_UNIX, LibC.SOCK_STREAM | LibC.SOCK_CLOEXEC, 0);
        try (UnixAddress address = new UnixAddress(socket)) {
            if (LIBC.connect(fd, address.address(), address.length()) < 0) {
                throw new ErrnoException("connect " + socket, LibC.errno());
            }
        }
    }

    // ---- memory layout ----

    static long descGpa(int ring) {
        return 0x10000L * (ring + 1);
    }

    static long availGpa(int ring) {
        return descGpa(ring) + 0x1000;
    }

    static long usedGpa(int ring) {
        return descGpa(ring) + 0x2000;
    }

    static long bufferGpa(int ring, int desc) {
        return (1L << 20) * (ring + 1) + (long) BUFFER * desc;
    }

    long host(long gpa) {
        return memory.address() + gpa;
    }

    // ---- front-end: the protocol ----

    /** Sends a request; returns the u64 reply (or u32 pair as a long) when {@code expectReply}. */
    long request(VhostRequest request, int flags, long[] payload, int[] fds, boolean expectReply) {
        return requestRaw(request.code, VhostMessage.VERSION | flags, payload, fds, expectReply);
    }

    long requestRaw(int code, int flags, long[] payload, int[] fds, boolean expectReply) {
        int size = payload.length * 8;
        message.putInt(0, code);
        message.putInt(4, flags);
        message.putInt(8, size);
        for (int i = 0; i < payload.length; i++) {
            message.putLong(VhostMessage.HEADER + 8L * i, payload[i]);
        }
        long sent = passing.send(fd, message.address(), VhostMessage.HEADER + size, fds);
        if (sent != VhostMessage.HEADER + size) {
            throw new IllegalStateException("send failed: " + sent + " errno " + LibC.errno());
        }
        return expectReply ? readReply() : 0;
    }

    /** Sends raw bytes as they are (for the fuzzer). */
    long sendBytes(byte[] bytes, int[] fds) {
        message.put(0, bytes, 0, bytes.length);
        return passing.send(fd, message.address(), bytes.length, fds);
    }

    long readReply() {
        if (!readFully(message.address(), VhostMessage.HEADER)) {
            return -1;
        }
        int size = message.getInt(8);
        if (size < 0 || size > 64 || !readFully(message.address() + VhostMessage.HEADER, size)) {
            return -1;
        }
        return size >= 8 ? message.getLong(VhostMessage.HEADER) : 0;
    }

    private boolean readFully(long at, int length) {
        int done = 0;
        while (done < length) {
            long n = LIBC.recv(fd, at + done, length - done, 0);
            if (n <= 0) {
                return false;
            }
            done += (int) n;
        }
        return true;
    }

    /** What QEMU 7.2 sends from connect to DRIVER_OK, with the guest's features {@code features}. */
    void start(long features) {
        start(features, MEMORY);
    }

    /** Like {@link #start(long)}, telling the back-end that guest memory is only {@code regionSize} bytes of the memfd. */
    void start(long features, long regionSize) {
        request(VhostRequest.GET_FEATURES, 0, new long[0], new int[0], true);
        request(VhostRequest.GET_PROTOCOL_FEATURES, 0, new long[0], new int[0], true);
        request(VhostRequest.SET_PROTOCOL_FEATURES, 0, new long[] {VhostFeatures.PROTOCOL_OFFERED}, new int[0], false);
        request(VhostRequest.GET_QUEUE_NUM, 0, new long[0], new int[0], true);
        request(VhostRequest.SET_OWNER, 0, new long[0], new int[0], false);
        request(VhostRequest.GET_FEATURES, 0, new long[0], new int[0], true);
        for (int r = 0; r < rings; r++) {
            request(VhostRequest.SET_VRING_CALL, 0, new long[] {r}, new int[] {call[r]}, false);
            request(VhostRequest.SET_VRING_ERR, 0, new long[] {r}, new int[] {call[r]}, false);
        }
        for (int r = 0; r < rings; r++) {
            // Before features or memory exist: only stored.
            request(VhostRequest.SET_VRING_ENABLE, 0, new long[] {state(r, 1)}, new int[0], false);
        }
        request(VhostRequest.SET_FEATURES, 0, new long[] {features}, new int[0], false);
        request(VhostRequest.SET_STATUS, 0, new long[] {0x08}, new int[0], false);
        setMemTable(new long[][] {{0, regionSize, USER_BASE, 0}}, new int[] {memfd});
        for (int r = 0; r < rings; r++) {
            setupRing(r);
        }
        request(VhostRequest.SET_STATUS, 0, new long[] {0x0f}, new int[0], false);
    }

    void setupRing(int r) {
        request(VhostRequest.SET_VRING_NUM, 0, new long[] {state(r, RING)}, new int[0], false);
        request(VhostRequest.SET_VRING_BASE, 0, new long[] {state(r, availIdx[r])}, new int[0], false);
        setRingAddresses(r, USER_BASE + descGpa(r), USER_BASE + usedGpa(r), USER_BASE + availGpa(r));
        request(VhostRequest.SET_VRING_KICK, 0, new long[] {r}, new int[] {kick[r]}, false);
        // A new call fd replaces the first one, as QEMU does once the driver is loaded.
        request(VhostRequest.SET_VRING_CALL, 0, new long[] {r}, new int[] {call[r]}, false);
        request(VhostRequest.SET_VRING_ENABLE, 0, new long[] {state(r, 1)}, new int[0], false);
    }

    void setRingAddresses(int r, long desc, long used, long avail) {
        request(VhostRequest.SET_VRING_ADDR, 0, new long[] {r & 0xffffffffL, desc, used, avail, 0}, new int[0], false);
    }

    /** SET_MEM_TABLE with regions {gpa, size, uaddr, offset}. */
    void setMemTable(long[][] regions, int[] fds) {
        long[] payload = new long[1 + 4 * regions.length];
        payload[0] = regions.length;
        for (int i = 0; i < regions.length; i++) {
            System.arraycopy(regions[i], 0, payload, 1 + 4 * i, 4);
        }
        request(VhostRequest.SET_MEM_TABLE, 0, payload, fds, false);
    }

    /** GET_VRING_BASE: stops the ring; returns the index the back-end reports. */
    int stopRing(int r) {
        long reply = request(VhostRequest.GET_VRING_BASE, 0, new long[] {state(r, 0)}, new int[0], true);
        return (int) (reply >>> 32);
    }

    static long state(int index, int num) {
        return (index & 0xffffffffL) | ((long) num << 32);
    }

    // ---- guest driver: TX ----

    /** Queues {@code frame} (with a zero virtio-net header unless given) on TX ring {@code r} as a two-descriptor chain, and kicks. */
    void transmit(int r, byte[] header, byte[] frame) {
        int slot = availIdx[r] % (RING / 2);
        int d0 = 2 * slot;
        int d1 = d0 + 1;
        putBuffer(r, d0, header, DescFlags.NEXT, d1);
        putBuffer(r, d1, frame, 0, 0);
        publishAvail(r, d0);
        kick(r);
    }

    /** Writes a descriptor pointing at its own buffer (filled with {@code bytes}). */
    void putBuffer(int r, int d, byte[] bytes, int flags, int next) {
        long gpa = bufferGpa(r, d);
        IO.putByteArray(host(gpa), bytes, 0, bytes.length);
        putDescriptor(r, d, gpa, bytes.length, flags, next);
    }

    void putDescriptor(int r, int d, long gpa, long length, int flags, int next) {
        long at = host(descGpa(r)) + 16L * d;
        IO.putLong(at, gpa);
        IO.putInt(at + 8, (int) length);
        IO.putShort(at + 12, (short) flags);
        IO.putShort(at + 14, (short) next);
    }

    void publishAvail(int r, int head) {
        long avail = host(availGpa(r));
        IO.putShort(avail + 4 + 2L * (availIdx[r] % RING), (short) head);
        availIdx[r] = (availIdx[r] + 1) & 0xffff;
        java.lang.invoke.VarHandle.releaseFence();
        IO.putShort(avail + 2, (short) availIdx[r]);
    }

    /** Sets the avail index directly (for a guest that jumps it). */
    void setAvailIndex(int r, int index) {
        availIdx[r] = index & 0xffff;
        IO.putShort(host(availGpa(r)) + 2, (short) index);
    }

    void kick(int r) {
        eventValue.putLong(0, 1);
        LIBC.write(kick[r], eventValue.address(), 8);
    }

    int usedIndex(int r) {
        return IO.getShort(host(usedGpa(r)) + 2) & 0xffff;
    }

    // ---- guest driver: RX ----

    /** Offers {@code count} writable buffers of {@code size} bytes on RX ring {@code r}. */
    void offerRxBuffers(int r, int count, int size) {
        for (int i = 0; i < count; i++) {
            int d = availIdx[r] % RING;
            putDescriptor(r, d, bufferGpa(r, d), size, DescFlags.WRITE, 0);
            publishAvail(r, d);
        }
    }

    /** The buffers the back-end filled since the last call: each the bytes written into that chain. */
    List<byte[]> takeUsed(int r) {
        List<byte[]> out = new ArrayList<>();
        long used = host(usedGpa(r));
        int idx = usedIndex(r);
        java.lang.invoke.VarHandle.acquireFence();
        while (usedSeen[r] != idx) {
            long element = used + 4 + 8L * (usedSeen[r] % RING);
            int id = IO.getInt(element);
            int length = IO.getInt(element + 4);
            byte[] bytes = new byte[length];
            IO.getByteArray(host(bufferGpa(r, id)), bytes, 0, length);
            out.add(bytes);
            usedSeen[r] = (usedSeen[r] + 1) & 0xffff;
        }
        return out;
    }

    /** Hands every used RX buffer straight back to the back-end without looking at it (allocation-free). */
    int recycleRx(int r) {
        int idx = usedIndex(r);
        int n = 0;
        while (usedSeen[r] != idx) {
            usedSeen[r] = (usedSeen[r] + 1) & 0xffff;
            n++;
        }
        offerRxBuffers(r, n, BUFFER);
        return n;
    }

    /**
     * EVENT_IDX: the driver's {@code used_event} (the avail ring's last field): signal me once the used
     * index passes {@code index}.
     */
    void setUsedEvent(int r, int index) {
        IO.putShort(host(availGpa(r)) + 4 + 2L * RING, (short) index);
    }

    /** The avail ring's flags, e.g. VRING_AVAIL_F_NO_INTERRUPT (1). */
    void setAvailFlags(int r, int flags) {
        IO.putShort(host(availGpa(r)), (short) flags);
    }

    /** Reads (and clears) the call eventfd of ring {@code r}: how often the back-end signalled. */
    long calls(int r) {
        eventValue.putLong(0, 0);
        long n = LIBC.read(call[r], eventValue.address(), 8);
        return n == 8 ? eventValue.getLong(0) : 0;
    }

    /** Flag values of a descriptor. */
    static final class DescFlags {
        static final int NEXT = 1;
        static final int WRITE = 2;
        static final int INDIRECT = 4;

        private DescFlags() {
        }
    }

    private boolean disconnected;

    /** Closes the socket, as a QEMU that exits or is killed. */
    void disconnect() {
        if (!disconnected) {
            disconnected = true;
            LIBC.close(fd);
        }
    }

    @Override
    public void close() {
        disconnect();
        for (int r = 0; r < rings; r++) {
            LIBC.close(kick[r]);
            LIBC.close(call[r]);
        }
        memory.close();
        LIBC.close(memfd);
        passing.close();
        message.close();
        eventValue.close();
    }
}
