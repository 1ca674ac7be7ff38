package io.vswitch.system;

import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.port.BatchSink;
import io.vswitch.linux.DirectAddress;
import io.vswitch.linux.ErrnoException;
import io.vswitch.linux.LibC;
import io.vswitch.linux.PollableQueue;

/**
 * One queue of a {@link SystemPort}: one AF_PACKET socket in the port's fanout group, with its
 * receive ring and its own fragment allocator. Its datapath thread waits on {@link #fd()} and
 * {@link #receive receives} ({@link PacketReceiver}); any datapath thread may {@link #transmit}, a
 * frame or a batch ({@link PacketTransmitter}). The socket and ring are owned by this queue and released by
 * {@link #close()}, after the port's threads stopped.
 */
final class SystemQueue implements PollableQueue, BatchSink {
    private final int index;
    private final int fd;
    private final PacketRing ring;
    private final FragAllocator allocator = new FragAllocator(DirectAddress.INSTANCE);
    private final PacketReceiver receiver;
    private final PacketTransmitter transmitter;

    private SystemQueue(SystemPort port, int index, int fd, PacketRing ring) {
        this.index = index;
        this.fd = fd;
        this.ring = ring;
        this.receiver = new PacketReceiver(port, fd, allocator, ring);
        this.transmitter = new PacketTransmitter(port, fd);
    }

    /** Opens the socket, maps its ring and only then binds it to the interface (see {@link PacketRing#map}). */
    static SystemQueue open(SystemPort port, int index, String interfaceName, int ifindex) throws ErrnoException {
        int fd = PacketSocket.open(interfaceName);
        PacketRing ring = null;
        try {
            ring = PacketRing.map(fd, interfaceName);
            PacketSocket.bind(fd, ifindex, interfaceName);
            return new SystemQueue(port, index, fd, ring);
        } catch (ErrnoException | RuntimeException e) {
            if (ring != null) {
                ring.close();
            }
            LibC.INSTANCE.close(fd);
            throw e;
        }
    }

    @Override
    public int fd() {
        return fd;
    }

    @Override
    public int index() {
        return index;
    }

    @Override
    public FragAllocator allocator() {
        return allocator;
    }

    @Override
    public int receive(FrameBatch batch) {
        return receiver.receive(batch);
    }

    @Override
    public int transmit(Frame frame) {
        return transmitter.transmit(frame);
    }

    @Override
    public int batchCapacity() {
        return PacketTransmitter.BATCH;
    }

    @Override
    public void transmit(Frame[] frames, int count, int[] results) {
        transmitter.transmit(frames, count, results);
    }

    /** Closes the socket (the kernel drops its fanout and promiscuous memberships with it) and unmaps the ring. */
    void close() {
        LibC.INSTANCE.close(fd);
        ring.close();
        receiver.close();
    }
}
