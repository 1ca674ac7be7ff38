package io.vswitch.system;

import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.linux.DirectAddress;
import io.vswitch.linux.LibC;
import io.vswitch.linux.PollableQueue;

/**
 * One queue of a {@link SystemPort}: one AF_PACKET socket in the port's fanout group, with its own
 * fragment allocator. Its datapath thread waits on {@link #fd()} and {@link #receive receives}
 * ({@link PacketReceiver}); any datapath thread may {@link #transmit} ({@link PacketTransmitter}).
 * The socket is owned by this queue and closed by {@link #close()}, after the port's threads stopped.
 */
final class SystemQueue implements PollableQueue {
    private final int index;
    private final int fd;
    private final FragAllocator allocator = new FragAllocator(DirectAddress.INSTANCE);
    private final PacketReceiver receiver;
    private final PacketTransmitter transmitter;

    SystemQueue(SystemPort port, int index, int fd) {
        this.index = index;
        this.fd = fd;
        this.receiver = new PacketReceiver(port, fd, allocator);
        this.transmitter = new PacketTransmitter(port, fd);
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

    /** Closes the socket: the kernel drops its fanout and promiscuous memberships with it. */
    void close() {
        LibC.INSTANCE.close(fd);
        receiver.close();
    }
}
