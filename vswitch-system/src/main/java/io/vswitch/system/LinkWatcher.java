package io.vswitch.system;

import com.kenai.jffi.MemoryIO;
import io.vswitch.linux.Epoll;
import io.vswitch.linux.ErrnoException;
import io.vswitch.linux.LibC;
import io.vswitch.linux.NativeBuffer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Follows one interface through rtnetlink: a socket subscribed to {@code RTMGRP_LINK} gets an
 * {@code RTM_NEWLINK} whenever the interface's flags, carrier or MTU change and an
 * {@code RTM_DELLINK} when it is deleted (or moved to another namespace), and each one that names
 * our ifindex makes the port {@link SystemPort#checkLink() re-read} its state. The messages are only
 * a trigger: the state itself is read with ioctls, so nothing in them has to be parsed beyond type and
 * index, and a lost message (ENOBUFS when the socket overflowed) just triggers a re-read too.
 *
 * <p>Runs on its own thread (cold path, a handful of events per link change), not on a datapath
 * thread, so a busy queue never delays a link event and vice versa. Owns the netlink socket and its
 * epoll set; {@link #close()} stops the thread and frees both.
 */
final class LinkWatcher implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(LinkWatcher.class);
    private static final LibC LIBC = LibC.INSTANCE;
    private static final MemoryIO MEMORY = MemoryIO.getInstance();

    private static final int RTMGRP_LINK = 1;
    private static final int RTM_NEWLINK = 16;
    private static final int RTM_DELLINK = 17;
    /** struct sockaddr_nl: family, pad, pid, groups. */
    private static final int SOCKADDR_NL_SIZE = 12;
    /** struct nlmsghdr (len 4, type 2, flags 2, seq 4, pid 4), then struct ifinfomsg (index at 4). */
    private static final int NLMSG_HEADER = 16;
    private static final int IFI_INDEX = NLMSG_HEADER + 4;
    private static final int BUFFER = 32 * 1024;
    private static final int NETLINK = 0;

    private final SystemPort port;
    private final int ifindex;
    private final int fd;
    private final Epoll epoll;
    private final NativeBuffer buffer = new NativeBuffer(BUFFER);
    private final Thread thread;
    private volatile boolean running = true;

    LinkWatcher(SystemPort port, int ifindex) throws ErrnoException {
        this.port = port;
        this.ifindex = ifindex;
        int sock = LIBC.socket(LibC.AF_NETLINK, LibC.SOCK_RAW | LibC.SOCK_NONBLOCK | LibC.SOCK_CLOEXEC, LibC.NETLINK_ROUTE);
        if (sock < 0) {
            buffer.close();
            throw ErrnoException.last("socket(AF_NETLINK, NETLINK_ROUTE)");
        }
        Epoll ep = null;
        try (NativeBuffer nl = new NativeBuffer(SOCKADDR_NL_SIZE)) {
            nl.putShort(0, (short) LibC.AF_NETLINK);
            nl.putInt(8, RTMGRP_LINK);
            if (LIBC.bind(sock, nl.address(), SOCKADDR_NL_SIZE) < 0) {
                throw ErrnoException.last("bind rtnetlink RTMGRP_LINK");
            }
            ep = new Epoll(2);
            ep.add(sock, LibC.EPOLLIN, NETLINK);
        } catch (ErrnoException | RuntimeException e) {
            if (ep != null) {
                ep.close();
            }
            LIBC.close(sock);
            buffer.close();
            throw e;
        }
        this.fd = sock;
        this.epoll = ep;
        this.thread = new Thread(this::run, "link-" + port.name());
        thread.setDaemon(true);
    }

    void start() {
        thread.start();
    }

    private void run() {
        try {
            while (running) {
                int ready = epoll.await(-1);
                for (int i = 0; i < ready && running; i++) {
                    if (epoll.token(i) == NETLINK && drainMentionsUs()) {
                        port.checkLink();
                    }
                }
            }
        } catch (RuntimeException e) {
            LOG.error("port {}: link watcher stopped, link changes are no longer followed: {}", port.name(), e.toString());
        }
    }

    /** Reads every queued message; true if one was about our interface or some were lost. */
    private boolean drainMentionsUs() {
        boolean relevant = false;
        long base = buffer.address();
        while (true) {
            long read = LIBC.recv(fd, base, BUFFER, LibC.MSG_DONTWAIT);
            if (read < 0) {
                return relevant || LibC.errno() == LibC.ENOBUFS;
            }
            int at = 0;
            while (at + IFI_INDEX + 4 <= read) {
                int length = MEMORY.getInt(base + at);
                int type = MEMORY.getShort(base + at + 4) & 0xffff;
                if (length < NLMSG_HEADER || at + length > read) {
                    break;
                }
                if ((type == RTM_NEWLINK || type == RTM_DELLINK) && MEMORY.getInt(base + at + IFI_INDEX) == ifindex) {
                    relevant = true;
                }
                at += (length + 3) & ~3;
            }
        }
    }

    @Override
    public void close() {
        running = false;
        try {
            epoll.wakeup();
            thread.join(5000);
        } catch (ErrnoException e) {
            LOG.warn("port {}: cannot wake the link watcher: {}", port.name(), e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (!thread.isAlive()) {
            epoll.close();
            LIBC.close(fd);
            buffer.close();
        }
    }
}
