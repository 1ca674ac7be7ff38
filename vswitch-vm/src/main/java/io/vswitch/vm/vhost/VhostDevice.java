package io.vswitch.vm.vhost;

import io.vswitch.linux.ErrnoException;
import io.vswitch.linux.FdPassing;
import io.vswitch.linux.LibC;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The back-end side of one vhost-user connection: what the front-end (QEMU) negotiated, the guest's
 * memory table, and the configuration of each ring, driven one request at a time by the connection's
 * control thread (the only thread that calls it).
 *
 * <p>Follows what QEMU 7.2 sends (see the issue and {@code vhost-user.rst}): SET_VRING_ENABLE may come
 * before any features or memory exist and is only stored; SET_STATUS is stored, not validated; a
 * second SET_VRING_CALL replaces the first fd; GET_VRING_BASE stops the ring. A request this back-end
 * refuses throws {@link BadRequest}, and the connection is reset; an unknown one is answered with a
 * REPLY_ACK failure and a log line.
 */
final class VhostDevice {
    private static final Logger LOG = LoggerFactory.getLogger(VhostDevice.class);

    /** What the port does when the device changes state that the data path depends on. */
    interface Listener {
        /**
         * The kick eventfd of {@code ring} changed from {@code oldFd} to {@code newFd} (-1: none): stop
         * watching the old one, watch the new one. The device closes the old fd afterwards.
         */
        void kickChanged(int ring, int oldFd, int newFd);

        /** The guest acknowledged {@code features}. */
        void negotiated(long features);
    }

    private final String portName;
    private final SplitVirtqueue[] rings;
    private final int queuePairs;
    private final Listener listener;
    private GuestMemory memory = GuestMemory.EMPTY;
    private long features;
    private long protocolFeatures;
    private long status;
    private boolean featuresSet;

    VhostDevice(String portName, SplitVirtqueue[] rings, Listener listener) {
        this.portName = portName;
        this.rings = rings;
        this.queuePairs = rings.length / 2;
        this.listener = listener;
    }

    long features() {
        return features;
    }

    long status() {
        return status;
    }

    /**
     * Handles the request in {@code msg} (whose descriptors are in {@code fds}), leaving the reply
     * in {@code msg} when there is one.
     *
     * @return the reply's payload size, or -1 when no reply is due
     */
    int handle(VhostMessage msg, FdPassing fds) throws BadRequest {
        VhostRequest request = VhostRequest.of(msg.request());
        boolean ack = msg.needsReply() && VhostFeatures.has(protocolFeatures, VhostFeatures.PROTOCOL_F_REPLY_ACK);
        if (request == null) {
            LOG.warn("port {}: front-end sent request {}, which this back-end does not implement; answered with a failure",
                    portName, msg.request());
            return ack ? replyU64(msg, 1) : -1;
        }
        switch (request) {
            case GET_FEATURES:
                return replyU64(msg, VhostFeatures.OFFERED);
            case GET_PROTOCOL_FEATURES:
                return replyU64(msg, VhostFeatures.PROTOCOL_OFFERED);
            case GET_QUEUE_NUM:
                return replyU64(msg, queuePairs);
            case GET_STATUS:
                return replyU64(msg, status);
            case GET_VRING_BASE: {
                SplitVirtqueue ring = ring(msg.u32(0));
                int base = ring.stop();
                msg.makeReply(8);
                msg.putU32(0, ring.index);
                msg.putU32(4, base);
                return 8;
            }
            default:
                break;
        }
        switch (request) {
            case SET_FEATURES:
                setFeatures(msg.u64(0));
                break;
            case SET_PROTOCOL_FEATURES:
                protocolFeatures = msg.u64(0) & VhostFeatures.PROTOCOL_OFFERED;
                break;
            case SET_OWNER:
                break;
            case RESET_OWNER:
                reset();
                break;
            case SET_MEM_TABLE:
                setMemTable(msg, fds);
                break;
            case SET_VRING_NUM:
                ring(msg.u32(0)).setSize(msg.u32(4));
                break;
            case SET_VRING_BASE:
                ring(msg.u32(0)).setBase(msg.u32(4));
                break;
            case SET_VRING_ADDR:
                // index, flags, then the descriptor table, used ring, available ring and log addresses
                ring(msg.u32(0)).setAddresses(msg.u64(8), msg.u64(16), msg.u64(24));
                break;
            case SET_VRING_KICK: {
                long value = msg.u64(0);
                SplitVirtqueue ring = ring((int) (value & VhostMessage.VRING_INDEX_MASK));
                if ((value & VhostMessage.VRING_NOFD) != 0) {
                    throw new BadRequest(VhostEvent.BAD_MESSAGE, "ring " + ring.index
                            + ": a kick without an eventfd (polling mode) is not supported");
                }
                int fd = takeOneFd(fds, "SET_VRING_KICK");
                int old = ring.setKick(fd);
                listener.kickChanged(ring.index, old, fd);
                if (old >= 0) {
                    LibC.INSTANCE.close(old);
                }
                break;
            }
            case SET_VRING_CALL:
            case SET_VRING_ERR: {
                long value = msg.u64(0);
                SplitVirtqueue ring = ring((int) (value & VhostMessage.VRING_INDEX_MASK));
                int fd = (value & VhostMessage.VRING_NOFD) != 0 ? -1 : takeOneFd(fds, request.name());
                int old = request == VhostRequest.SET_VRING_CALL ? ring.setCall(fd) : ring.setErr(fd);
                if (old >= 0) {
                    LibC.INSTANCE.close(old);
                }
                break;
            }
            case SET_VRING_ENABLE:
                ring(msg.u32(0)).setEnabled(msg.u32(4) != 0);
                break;
            case SET_STATUS:
                status = msg.u64(0);
                break;
            default:
                LOG.warn("port {}: front-end sent {}, which this back-end does not implement; answered with a failure",
                        portName, request);
                return ack ? replyU64(msg, 1) : -1;
        }
        return ack ? replyU64(msg, 0) : -1;
    }

    /** Answers a refused request with a REPLY_ACK failure when the front-end asked for an answer. */
    int refusal(VhostMessage msg) {
        VhostRequest request = VhostRequest.of(msg.request());
        boolean naturalReply = request == VhostRequest.GET_FEATURES || request == VhostRequest.GET_PROTOCOL_FEATURES
                || request == VhostRequest.GET_QUEUE_NUM || request == VhostRequest.GET_STATUS
                || request == VhostRequest.GET_VRING_BASE;
        if (naturalReply || (msg.needsReply() && VhostFeatures.has(protocolFeatures, VhostFeatures.PROTOCOL_F_REPLY_ACK))) {
            return replyU64(msg, 1);
        }
        return -1;
    }

    private static int replyU64(VhostMessage msg, long value) {
        msg.makeReply(8);
        msg.putU64(0, value);
        return 8;
    }

    private SplitVirtqueue ring(int index) throws BadRequest {
        if (index < 0 || index >= rings.length) {
            throw new BadRequest(VhostEvent.BAD_MESSAGE, "ring " + Integer.toUnsignedString(index) + " does not exist (the port has "
                    + rings.length + " rings, " + queuePairs + " queue pairs)");
        }
        return rings[index];
    }

    private static int takeOneFd(FdPassing fds, String what) throws BadRequest {
        if (fds.receivedCount() != 1) {
            throw new BadRequest(VhostEvent.BAD_MESSAGE, what + " came with " + fds.receivedCount() + " descriptors, not 1");
        }
        return fds.takeFd(0);
    }

    private void setFeatures(long acked) throws BadRequest {
        if ((acked & ~VhostFeatures.OFFERED) != 0) {
            throw new BadRequest(VhostEvent.BAD_MESSAGE, "features 0x" + Long.toHexString(acked & ~VhostFeatures.OFFERED)
                    + " were acknowledged but never offered");
        }
        if (!VhostFeatures.has(acked, VhostFeatures.F_VERSION_1)) {
            throw new BadRequest(VhostEvent.BAD_MESSAGE, "the guest did not accept VIRTIO_F_VERSION_1 (a legacy driver); "
                    + "this back-end needs a virtio 1.0 guest (do not set disable-modern on the device)");
        }
        features = acked;
        featuresSet = true;
        boolean eventIdx = VhostFeatures.has(acked, VhostFeatures.RING_F_EVENT_IDX);
        boolean indirect = VhostFeatures.has(acked, VhostFeatures.RING_F_INDIRECT_DESC);
        boolean enabledByDefault = !VhostFeatures.has(acked, VhostFeatures.F_PROTOCOL_FEATURES);
        for (SplitVirtqueue ring : rings) {
            ring.setFeatures(eventIdx, indirect);
            if (enabledByDefault) {
                ring.setEnabled(true);
            }
        }
        listener.negotiated(acked);
    }

    private void setMemTable(VhostMessage msg, FdPassing fds) throws BadRequest {
        int n = msg.u32(0);
        if (n < 1 || n > VhostMessage.MAX_REGIONS || msg.size() != 8 + n * VhostMessage.REGION_SIZE) {
            throw new BadRequest(VhostEvent.BAD_MEMORY_TABLE, "SET_MEM_TABLE with " + Integer.toUnsignedString(n)
                    + " regions in " + msg.size() + " bytes");
        }
        if (fds.receivedCount() != n) {
            throw new BadRequest(VhostEvent.BAD_MEMORY_TABLE, "SET_MEM_TABLE with " + n + " regions but "
                    + fds.receivedCount() + " descriptors");
        }
        long[] guest = new long[n];
        long[] size = new long[n];
        long[] user = new long[n];
        long[] offset = new long[n];
        int[] fd = new int[n];
        for (int i = 0; i < n; i++) {
            int at = 8 + i * VhostMessage.REGION_SIZE;
            guest[i] = msg.u64(at);
            size[i] = msg.u64(at + 8);
            user[i] = msg.u64(at + 16);
            offset[i] = msg.u64(at + 24);
            fd[i] = fds.receivedFd(i);
        }
        GuestMemory table;
        try {
            table = GuestMemory.map(guest, size, user, offset, fd);
        } catch (ErrnoException e) {
            throw new BadRequest(VhostEvent.BAD_MEMORY_TABLE, "cannot map the guest's memory: " + e.getMessage());
        }
        // The mappings outlive the fds, which the connection closes after this request.
        replaceMemory(table);
        LOG.info("port {}: guest memory mapped: {} region(s), {} MiB", portName, n, totalMiB(size));
    }

    private static long totalMiB(long[] sizes) {
        long sum = 0;
        for (long s : sizes) {
            sum += s;
        }
        return sum >> 20;
    }

    /** Points every ring at {@code table}, then unmaps the table they used: each swap waits out that ring's users. */
    private void replaceMemory(GuestMemory table) {
        for (SplitVirtqueue ring : rings) {
            ring.setMemory(table);
        }
        GuestMemory old = memory;
        memory = table;
        old.close();
    }

    /** Forgets the connection's state: rings reset (their fds closed), memory unmapped. */
    void reset() {
        for (SplitVirtqueue ring : rings) {
            int kick = ring.kickFd();
            if (kick >= 0) {
                listener.kickChanged(ring.index, kick, -1);
            }
            ring.reset(); // closes the ring's fds
        }
        GuestMemory old = memory;
        memory = GuestMemory.EMPTY;
        old.close();
        features = 0;
        protocolFeatures = 0;
        status = 0;
        featuresSet = false;
        listener.negotiated(0);
    }

    boolean featuresSet() {
        return featuresSet;
    }
}
