package io.vswitch.daemon;

import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.port.Port;
import io.vswitch.linux.PollableQueue;

/**
 * Test-only: a real one-queue port whose queue calls pass through {@link #receive} and
 * {@link #transmit} (and whose close passes through {@link #close}), so a test can log, delay or
 * fail them while the datapath thread, the registry and the port itself stay the production ones.
 * Everything else is the real port's.
 */
abstract class InterposedPort implements Port {
    final Port delegate;
    private final PollableQueue queue;

    InterposedPort(Port delegate) {
        this.delegate = delegate;
        PollableQueue real = (PollableQueue) delegate.queue(0);
        this.queue = new PollableQueue() {
            @Override
            public int fd() {
                return real.fd();
            }

            @Override
            public int index() {
                return 0;
            }

            @Override
            public FragAllocator allocator() {
                return real.allocator();
            }

            @Override
            public int receive(FrameBatch batch) {
                return InterposedPort.this.receive(real, batch);
            }

            @Override
            public int transmit(Frame frame) {
                return InterposedPort.this.transmit(real, frame);
            }
        };
    }

    /** The datapath thread's receive on the queue; by default the real one. */
    int receive(PollableQueue real, FrameBatch batch) {
        return real.receive(batch);
    }

    /** A transmit to the queue; by default the real one. */
    int transmit(PollableQueue real, Frame frame) {
        return real.transmit(frame);
    }

    @Override
    public String name() {
        return delegate.name();
    }

    @Override
    public String kind() {
        return delegate.kind();
    }

    @Override
    public int queueCount() {
        return 1;
    }

    @Override
    public PollableQueue queue(int index) {
        return queue;
    }

    @Override
    public int offloads() {
        return delegate.offloads();
    }

    @Override
    public int maxFrameLength() {
        return delegate.maxFrameLength();
    }

    @Override
    public boolean linkUp() {
        return delegate.linkUp();
    }

    @Override
    public void close() {
        delegate.close();
    }
}
