package io.vswitch.vm.vhost;

import io.vswitch.linux.Epoll;
import io.vswitch.linux.ErrnoException;
import io.vswitch.linux.FdPassing;
import io.vswitch.linux.LibC;
import io.vswitch.linux.NativeBuffer;
import io.vswitch.linux.UnixAddress;
import java.io.IOException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The control thread of a {@link VhostUserPort}: gets a connection to the front-end (client mode:
 * connects to QEMU's socket, retrying with back-off from 50 ms up to 1 s, each failed attempt
 * counted; server mode: listens and accepts one front-end at a time, refusing others), reads its
 * requests (header, payload, descriptors passed with SCM_RIGHTS), hands them to the
 * {@link VhostDevice} and sends the replies. When the connection ends, the device is reset (rings
 * stopped, guest memory unmapped) and the next connection starts from scratch: a restarted QEMU, or,
 * in client mode, a restarted vswitch reconnecting to a QEMU that kept running.
 *
 * <p>The socket is non-blocking and every wait goes through one epoll set with a wakeup, so
 * {@link #stop()} ends the thread promptly whatever it is waiting for.
 */
final class VhostConnector {
    private static final Logger LOG = LoggerFactory.getLogger(VhostConnector.class);
    private static final LibC LIBC = LibC.INSTANCE;
    private static final int CONN = 1;
    private static final int LISTEN = 2;
    private static final long MIN_BACKOFF_MS = 50;
    private static final long MAX_BACKOFF_MS = 1000;
    /** How long the rest of a started message may take before the front-end is considered broken. */
    private static final int MESSAGE_TIMEOUT_MS = 5000;
    private static final int SO_PEERCRED = 17;

    private final VhostUserPort port;
    private final VhostDevice device;
    private final VhostCounters counters;
    private final VhostUserPort.SocketAccess access;
    private final Epoll epoll;
    /** QEMU's socket, in client mode; null in server mode. */
    private final UnixAddress address;
    private final VhostMessage message = new VhostMessage();
    private final FdPassing fds = new FdPassing();
    private final Thread thread;
    /** The socket file QEMU connects to, in server mode; null in client mode. */
    private final VhostListener listener;
    private volatile boolean running = true;
    private volatile int connection = -1;
    private volatile long peerPid = -1;

    VhostConnector(VhostUserPort port, VhostDevice device, VhostCounters counters, VhostUserPort.SocketAccess access)
            throws IOException {
        this.port = port;
        this.device = device;
        this.counters = counters;
        this.access = access == null ? VhostUserPort.SocketAccess.INHERIT : access;
        boolean server = port.mode() == VhostUserPort.Mode.SERVER;
        this.address = server ? null : new UnixAddress(port.socketPath());
        Epoll ep = null;
        VhostListener listening = null;
        try {
            ep = new Epoll(4);
            if (server) {
                listening = new VhostListener(port.name(), port.socketPath(), this.access);
                ep.add(listening.fd(), LibC.EPOLLIN, LISTEN);
            }
        } catch (IOException | RuntimeException e) {
            if (listening != null) {
                listening.close();
            }
            if (ep != null) {
                ep.close();
            }
            closeNative();
            throw e;
        }
        this.epoll = ep;
        this.listener = listening;
        this.thread = new Thread(this::run, "vhost-" + port.name());
        thread.setDaemon(true);
    }

    void start() {
        thread.start();
    }

    boolean connected() {
        return connection >= 0;
    }

    long peerPid() {
        return peerPid;
    }

    /** Ends the thread (closing the connection and resetting the device) and frees everything. */
    void stop() {
        running = false;
        try {
            epoll.wakeup();
        } catch (ErrnoException e) {
            LOG.warn("port {}: cannot wake the control thread: {}", port.name(), e.getMessage());
        }
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (thread.isAlive()) {
            LOG.error("port {}: the control thread did not stop; its memory stays mapped", port.name());
            return;
        }
        if (listener != null) {
            listener.close();
        }
        epoll.close();
        closeNative();
    }

    private void closeNative() {
        message.close();
        fds.close();
        if (address != null) {
            address.close();
        }
    }

    private void run() {
        long backoff = MIN_BACKOFF_MS;
        while (running) {
            int fd = port.mode() == VhostUserPort.Mode.CLIENT ? connect() : accept();
            if (fd < 0) {
                if (port.mode() == VhostUserPort.Mode.CLIENT) {
                    pause(backoff);
                    backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
                }
                continue;
            }
            backoff = MIN_BACKOFF_MS;
            serve(fd);
        }
    }

    // ---- getting a connection ----

    private int connect() {
        int fd = LIBC.socket(LibC.AF_UNIX, LibC.SOCK_STREAM | LibC.SOCK_NONBLOCK | LibC.SOCK_CLOEXEC, 0);
        if (fd < 0) {
            return -1;
        }
        if (LIBC.connect(fd, address.address(), address.length()) == 0) {
            return fd;
        }
        int errno = LibC.errno();
        LIBC.close(fd);
        counters.count(VhostEvent.CONNECT_FAILED);
        long failures = counters.get(VhostEvent.CONNECT_FAILED);
        if (failures == 1 || failures % 60 == 0) {
            LOG.info("port {}: cannot connect to QEMU at {} yet ({}); retrying (attempts failed so far: {})", port.name(),
                    port.socketPath(), new ErrnoException("connect", errno).getMessage(), failures);
        }
        return -1;
    }

    private int accept() {
        int ready = await(-1);
        if (ready != LISTEN) {
            return -1;
        }
        return listener.accept();
    }

    /** Waits up to {@code millis} (-1: forever) for the connection or listener; returns its token, or 0. */
    private int await(int millis) {
        int n = epoll.await(millis);
        int result = 0;
        for (int i = 0; i < n; i++) {
            int token = epoll.token(i);
            if (token == CONN) {
                result = CONN;
            } else if (token == LISTEN && result == 0) {
                result = LISTEN;
            }
        }
        return running ? result : 0;
    }

    private void pause(long millis) {
        await((int) millis);
    }

    // ---- one connection ----

    private void serve(int fd) {
        try {
            epoll.add(fd, LibC.EPOLLIN, CONN);
        } catch (ErrnoException e) {
            LIBC.close(fd);
            return;
        }
        peerPid = peerPid(fd);
        connection = fd;
        counters.count(VhostEvent.CONNECTED);
        LOG.info("port {}: vhost-user front-end connected (pid {}) on {}", port.name(), peerPid, port.socketPath());
        String why = null;
        try {
            while (running && why == null) {
                int token = await(-1);
                if (token == LISTEN) {
                    refuseNewcomer();
                } else if (token == CONN) {
                    why = handleOne(fd);
                }
            }
        } finally {
            epoll.remove(fd);
            LIBC.close(fd);
            device.reset();
            fds.closeReceived();
            counters.count(VhostEvent.DISCONNECTED);
            // Last, so whoever sees the port disconnected also sees the teardown done and counted.
            connection = -1;
            LOG.info("port {}: vhost-user front-end (pid {}) {}; link down", port.name(), peerPid,
                    why == null ? "disconnected as the port closes" : why);
            peerPid = -1;
        }
    }

    private void refuseNewcomer() {
        int extra = listener.accept();
        if (extra >= 0) {
            LIBC.close(extra);
            counters.count(VhostEvent.REFUSED);
            LOG.warn("port {}: refused a second front-end on {}: the port belongs to pid {}", port.name(),
                    port.socketPath(), peerPid);
        }
    }

    /** Reads and answers one request; returns why the connection must end, or null to go on. */
    private String handleOne(int fd) {
        fds.closeReceived();
        long got;
        try {
            got = fds.receive(fd, message.address(), VhostMessage.HEADER, 0);
        } catch (ErrnoException e) {
            counters.count(VhostEvent.BAD_MESSAGE);
            return "sent a bad message (" + e.getMessage() + ")";
        }
        if (got == 0) {
            return "closed the connection";
        }
        if (got < 0) {
            int errno = LibC.errno();
            if (errno == LibC.EAGAIN || errno == LibC.EINTR) {
                return null;
            }
            return "connection failed (" + new ErrnoException("recvmsg", errno).getMessage() + ")";
        }
        if (got < VhostMessage.HEADER && !readRest(fd, message.address() + got, VhostMessage.HEADER - (int) got)) {
            return "stopped in the middle of a message header";
        }
        String problem = VhostMessage.problem(message.request(), message.flags(), message.size(), fds.receivedCount());
        if (problem != null) {
            counters.count(VhostEvent.BAD_MESSAGE);
            LOG.warn("port {}: front-end sent a malformed message: {}; connection reset", port.name(), problem);
            return "sent a malformed message";
        }
        if (message.size() > 0 && !readRest(fd, message.payloadAddress(), message.size())) {
            return "stopped in the middle of a message";
        }
        int reply;
        String why = null;
        try {
            reply = device.handle(message, fds);
            if (VhostRequest.of(message.request()) == null) {
                counters.count(VhostEvent.UNKNOWN_REQUEST);
            }
        } catch (BadRequest e) {
            counters.count(e.event);
            LOG.warn("port {}: refused a request from the front-end: {} [{}]; connection reset", port.name(),
                    e.getMessage(), e.event.label());
            reply = device.refusal(message);
            why = "sent a request this back-end refuses";
        }
        if (reply >= 0 && !send(fd, message.address(), VhostMessage.HEADER + reply)) {
            return "did not take a reply";
        }
        return why;
    }

    /** Reads exactly {@code length} bytes, waiting for them at most {@link #MESSAGE_TIMEOUT_MS} in total. */
    private boolean readRest(int fd, long at, int length) {
        long deadline = System.nanoTime() + MESSAGE_TIMEOUT_MS * 1_000_000L;
        int done = 0;
        while (done < length) {
            long n = LIBC.recv(fd, at + done, length - done, LibC.MSG_DONTWAIT);
            if (n > 0) {
                done += (int) n;
                continue;
            }
            if (n == 0) {
                return false;
            }
            int errno = LibC.errno();
            if (errno != LibC.EAGAIN && errno != LibC.EINTR) {
                return false;
            }
            long left = (deadline - System.nanoTime()) / 1_000_000L;
            if (left <= 0 || !running) {
                counters.count(VhostEvent.BAD_MESSAGE);
                return false;
            }
            await((int) Math.min(left, 100));
        }
        return true;
    }

    private boolean send(int fd, long at, int length) {
        int done = 0;
        long deadline = System.nanoTime() + MESSAGE_TIMEOUT_MS * 1_000_000L;
        while (done < length) {
            long n = LIBC.send(fd, at + done, length - done, LibC.MSG_DONTWAIT | LibC.MSG_NOSIGNAL);
            if (n > 0) {
                done += (int) n;
                continue;
            }
            int errno = LibC.errno();
            if (n < 0 && errno != LibC.EAGAIN && errno != LibC.EINTR) {
                return false;
            }
            if (System.nanoTime() - deadline > 0 || !running) {
                return false;
            }
            Thread.onSpinWait();
        }
        return true;
    }

    private static long peerPid(int fd) {
        try (NativeBuffer cred = new NativeBuffer(16)) {
            cred.putInt(12, 12);
            if (LIBC.getsockopt(fd, LibC.SOL_SOCKET, SO_PEERCRED, cred.address(), cred.address() + 12) < 0) {
                return -1;
            }
            return cred.getInt(0);
        }
    }
}
