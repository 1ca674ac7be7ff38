package io.vswitch.vm;

import com.kenai.jffi.MemoryIO;
import io.vswitch.core.frame.DropReason;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.port.FrameSink;
import io.vswitch.linux.Epoll;
import io.vswitch.linux.ErrnoException;
import io.vswitch.linux.LibC;
import io.vswitch.linux.NativeBuffer;
import java.nio.ByteBuffer;

/**
 * One guest connection of a {@link VmStreamPort} and the writes to it.
 *
 * <p>The length prefix is written into the frame's headroom right before the Ethernet header (the 4
 * bytes it covers are restored afterwards, since they may hold a virtio-net header another port still
 * needs), so prefix and frame go out in one {@code send} without a copy. The socket is non-blocking;
 * when it takes only part of a frame the rest is kept here and sent first once the socket has room
 * (EPOLLOUT is switched on in the port's set, so its datapath thread comes back for it), and further
 * frames are {@link DropReason#TX_BUSY} until then: the guest always sees whole frames.
 *
 * <p><b>Threads.</b> Any datapath thread transmits; writes, the kept tail and {@link #close()} are
 * serialized on this object's lock. The port's datapath thread reads {@link #waitingForRoom} without
 * the lock: a stale value costs one extra or one late flush attempt, which the next EPOLLOUT or
 * transmit corrects.
 */
final class StreamConnection {
    static final int PREFIX = 4;
    private static final int SEND_FLAGS = LibC.MSG_DONTWAIT | LibC.MSG_NOSIGNAL;
    private static final int TX_BUSY = DropReason.TX_BUSY.ordinal();
    private static final int PORT_DOWN = DropReason.PORT_DOWN.ordinal();
    private static final int TX_ERROR = DropReason.TX_ERROR.ordinal();
    private static final LibC LIBC = LibC.INSTANCE;
    private static final MemoryIO IO = MemoryIO.getInstance();

    final int fd;
    final long pid;
    /** The port's private set, where this connection's fd is watched under {@link #token}. */
    private final Epoll events;
    private final int token;
    /** Unsent bytes of the last frame, at [pendingOffset, pendingOffset + pendingLength). */
    private final NativeBuffer pending;
    /** epoll_event scratch for switching EPOLLOUT on and off under the lock. */
    private final NativeBuffer event = new NativeBuffer(Epoll.EVENT_SIZE);
    private int pendingOffset;
    private int pendingLength;
    /** Frames the socket took only in part; written under the lock, read racily for stats. */
    private volatile long partialSends;
    /** Set (under the lock) when EPOLLOUT was asked for; read racily by the datapath thread. */
    volatile boolean waitingForRoom;
    private boolean open = true;

    StreamConnection(int fd, long pid, int maxFrame, Epoll events, int token) {
        this.fd = fd;
        this.pid = pid;
        this.events = events;
        this.token = token;
        this.pending = new NativeBuffer(PREFIX + maxFrame);
    }

    /** Frames the socket took only in part (the rest was kept and sent later). */
    long partialSends() {
        return partialSends;
    }

    /**
     * Sends {@code frame} with its length prefix. The caller keeps the frame (only its headroom is
     * borrowed, and restored).
     *
     * @return {@link FrameSink#SENT} or the ordinal of the {@link DropReason}
     */
    synchronized int transmit(Frame frame) {
        if (!open) {
            return PORT_DOWN;
        }
        if (pendingLength > 0 && !flush()) {
            return open ? TX_BUSY : PORT_DOWN;
        }
        int length = frame.length();
        int total = PREFIX + length;
        long sent;
        int start = frame.start();
        if (frame.headroom() >= PREFIX) {
            ByteBuffer b = frame.buffer();
            int saved = b.getInt(start - PREFIX);
            b.putInt(start - PREFIX, length); // big-endian, as QEMU reads it
            long at = frame.addressOf(start - PREFIX);
            sent = LIBC.send(fd, at, total, SEND_FLAGS);
            if (sent >= 0 && sent < total) {
                keepTail(at + sent, (int) (total - sent));
            }
            b.putInt(start - PREFIX, saved);
        } else {
            // No room in front of the frame (not the case for frames of our allocators): stage a copy.
            long p = pending.address();
            IO.putInt(p, Integer.reverseBytes(length));
            IO.copyMemory(frame.address(), p + PREFIX, length);
            sent = LIBC.send(fd, p, total, SEND_FLAGS);
            if (sent >= 0 && sent < total) {
                keepTail(p + sent, (int) (total - sent));
            }
        }
        return sent >= 0 ? FrameSink.SENT : sendError(LibC.errno());
    }

    /** The port's datapath thread, on EPOLLOUT: sends the kept tail and stops watching for room once it is gone. */
    synchronized void flushKeptTail() {
        if (open && pendingLength > 0) {
            flush();
        }
        if (open && pendingLength == 0 && waitingForRoom) {
            watchForRoom(false);
        }
    }

    /** Closes the fd and frees memory; transmitters get {@link DropReason#PORT_DOWN} from then on. */
    synchronized void close() {
        if (open) {
            open = false;
            LIBC.close(fd);
            pending.close();
            event.close();
        }
    }

    /** Sends the unsent tail; true when nothing is pending any more. Caller holds the lock. */
    private boolean flush() {
        long sent = LIBC.send(fd, pending.address() + pendingOffset, pendingLength, SEND_FLAGS);
        if (sent < 0) {
            int errno = LibC.errno();
            if (errno != LibC.EAGAIN && errno != LibC.EINTR) {
                pendingLength = 0; // the connection is broken; the datapath thread will see its end
            }
            return false;
        }
        pendingOffset += (int) sent;
        pendingLength -= (int) sent;
        return pendingLength == 0;
    }

    private void keepTail(long from, int bytes) {
        partialSends++; // under the lock
        IO.copyMemory(from, pending.address(), bytes);
        pendingOffset = 0;
        pendingLength = bytes;
        watchForRoom(true);
    }

    private void watchForRoom(boolean on) {
        try {
            events.modify(fd, on ? LibC.EPOLLIN | LibC.EPOLLOUT : LibC.EPOLLIN, token, event);
            waitingForRoom = on;
        } catch (ErrnoException e) {
            // Only if the fd is already gone; the datapath thread is dropping the connection.
            waitingForRoom = false;
        }
    }

    private static int sendError(int errno) {
        if (errno == LibC.EAGAIN || errno == LibC.ENOBUFS || errno == LibC.EINTR) {
            return TX_BUSY;
        }
        if (errno == LibC.EPIPE || errno == LibC.ECONNRESET || errno == LibC.ENOTCONN) {
            return PORT_DOWN; // the guest is gone; the datapath thread reads its end and drops it
        }
        return TX_ERROR;
    }
}
