package io.vswitch.vm;

import jnr.ffi.LibraryLoader;
import jnr.ffi.annotations.SaveError;
import jnr.ffi.types.size_t;
import jnr.ffi.types.ssize_t;

/**
 * jnr-ffi binding to the socket and timer calls the VM ports need beyond {@link io.vswitch.tap.LibC}
 * (which has read, write, close, fcntl and the epoll calls). Same rules as there: every argument is a
 * primitive or a raw native address, so the data-path calls ({@link #send}, {@link #recv},
 * {@link #recvmsg}) bind to jnr-ffi's primitive invokers and allocate nothing; errno is saved by jffi
 * and read with {@link io.vswitch.tap.LibC#errno()} after a call returned -1. Linux constants
 * (x86_64 and aarch64 agree on all of them).
 *
 * <p>Public only because jnr-ffi generates its implementation in another class loader; not an API.
 */
public interface Sys {
    Sys INSTANCE = LibraryLoader.create(Sys.class).load("c");

    int AF_UNIX = 1;
    int SOCK_STREAM = 1;
    int SOCK_DGRAM = 2;
    int SOCK_NONBLOCK = 0x800;
    int SOCK_CLOEXEC = 0x80000;

    int SOL_SOCKET = 1;
    int SO_SNDBUF = 7;
    int SO_RCVBUF = 8;
    int SO_SNDBUFFORCE = 32;
    int SO_RCVBUFFORCE = 33;

    int MSG_PEEK = 0x2;
    int MSG_TRUNC = 0x20;
    int MSG_DONTWAIT = 0x40;
    int MSG_NOSIGNAL = 0x4000;

    int CLOCK_MONOTONIC = 1;
    int TFD_NONBLOCK = 0x800;
    int TFD_CLOEXEC = 0x80000;

    int EPOLLIN = 0x001;
    int EPOLLOUT = 0x004;
    int EPOLLERR = 0x008;
    int EPOLLHUP = 0x010;
    int EPOLL_CTL_ADD = 1;
    int EPOLL_CTL_DEL = 2;
    int EPOLL_CTL_MOD = 3;

    int EPERM = 1;
    int ENOENT = 2;
    int EINTR = 4;
    int EAGAIN = 11;
    int ENOTSOCK = 88;
    int EMSGSIZE = 90;
    int EADDRINUSE = 98;
    int ENOBUFS = 105;
    int ECONNABORTED = 103;
    int ECONNRESET = 104;
    int ENOTCONN = 107;
    int ECONNREFUSED = 111;
    int EPIPE = 32;

    // ---- data path: primitives and raw addresses only ----

    @SaveError
    @ssize_t long send(int fd, long buf, @size_t long len, int flags);

    @SaveError
    @ssize_t long recv(int fd, long buf, @size_t long len, int flags);

    /** {@code msg} is the address of a {@code struct msghdr} (see {@link VmDgramPort}). */
    @SaveError
    @ssize_t long recvmsg(int fd, long msg, int flags);

    // ---- cold path ----

    @SaveError
    int socket(int domain, int type, int protocol);

    @SaveError
    int bind(int fd, long addr, int addrlen);

    @SaveError
    int listen(int fd, int backlog);

    @SaveError
    int connect(int fd, long addr, int addrlen);

    /** {@code addr}/{@code addrlen} may be 0 (NULL) when the peer address is not wanted. */
    @SaveError
    int accept4(int fd, long addr, long addrlen, int flags);

    @SaveError
    int setsockopt(int fd, int level, int name, long value, int len);

    @SaveError
    int getsockopt(int fd, int level, int name, long value, long lenAddress);

    @SaveError
    int timerfd_create(int clockid, int flags);

    /** {@code newValue}/{@code oldValue} are addresses of {@code struct itimerspec} (oldValue may be 0). */
    @SaveError
    int timerfd_settime(int fd, int flags, long newValue, long oldValue);
}
