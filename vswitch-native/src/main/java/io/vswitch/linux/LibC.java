package io.vswitch.linux;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Runtime;
import jnr.ffi.annotations.SaveError;
import jnr.ffi.annotations.Variadic;
import jnr.ffi.types.size_t;
import jnr.ffi.types.ssize_t;

/**
 * jnr-ffi binding to the libc calls every port kind needs (Linux, x86_64/aarch64 constants).
 *
 * <p><b>Hot path</b> ({@link #read}, {@link #write}, {@link #readv}, {@link #writev}, {@link #epoll_wait}):
 * every argument is a primitive and buffers are raw native addresses passed as {@code long}, so jnr-ffi
 * binds them to its primitive fast-path invokers and a call allocates nothing on the Java heap
 * (verified by {@code LibCAllocationTest}: 0 bytes per call, even under {@code -Xint}, so this
 * does not rely on escape analysis). Keep it that way: {@code Pointer}/{@code ByteBuffer}
 * parameters go through marshalling that can allocate. Native memory comes from {@link NativeBuffer}, or from a
 * direct {@code ByteBuffer} via {@code com.kenai.jffi.MemoryIO.getInstance().getDirectBufferAddress(buf)}.
 *
 * <p><b>errno</b>: calls return -1 on failure, and only then should the caller look at {@link #errno()}.
 * The methods are {@link SaveError}: jffi copies the C {@code errno} into its own thread-local right
 * after the call, because the JVM may clobber the real {@code errno} (safepoints, GC) before Java reads
 * it. {@link #errno()} reads that saved copy with a JNI call that returns an {@code int}, so it does not
 * allocate either; reading it only on the slow path keeps the success path at one native call.
 *
 * <p>The binding holds no resources; file descriptors it returns are owned by whoever asked for them.
 */
public interface LibC {

    /** The process-wide binding, loaded on first use. */
    LibC INSTANCE = LibraryLoader.create(LibC.class).load("c");

    int O_RDWR = 0x2;
    int O_NONBLOCK = 0x800;
    int O_CLOEXEC = 0x80000;

    int F_GETFL = 3;

    int AF_INET = 2;
    int SOCK_DGRAM = 2;
    int SOCK_CLOEXEC = O_CLOEXEC;

    int EPOLL_CLOEXEC = O_CLOEXEC;
    int EPOLL_CTL_ADD = 1;
    int EPOLL_CTL_DEL = 2;
    int EPOLLIN = 0x001;
    int EPOLLERR = 0x008;
    int EPOLLHUP = 0x010;

    int EFD_NONBLOCK = O_NONBLOCK;
    int EFD_CLOEXEC = O_CLOEXEC;

    int EINTR = 4;
    int EIO = 5;
    int EAGAIN = 11;
    int EBUSY = 16;
    int EINVAL = 22;
    int EBADFD = 77;

    /** The errno saved by the last failed call on this thread; allocation-free (see class doc). */
    static int errno() {
        return Runtime.getSystemRuntime().getLastError();
    }

    // ---- hot path: primitives and raw addresses only ----

    @SaveError
    @ssize_t long read(int fd, long buf, @size_t long count);

    @SaveError
    @ssize_t long write(int fd, long buf, @size_t long count);

    /** {@code iov} is the address of {@code iovcnt} packed {@code struct iovec {void *base; size_t len;}}. */
    @SaveError
    @ssize_t long readv(int fd, long iov, int iovcnt);

    @SaveError
    @ssize_t long writev(int fd, long iov, int iovcnt);

    /** {@code events} is the address of {@code maxevents} {@code struct epoll_event}s (see {@link Epoll}). */
    @SaveError
    int epoll_wait(int epfd, long events, int maxevents, int timeout);

    // ---- cold path ----

    @SaveError
    int open(CharSequence path, int flags);

    @SaveError
    int close(int fd);

    /** {@code arg} is either a value (e.g. TUNSETOFFLOAD) or the address of the request's struct. */
    @SaveError
    @Variadic(fixedCount = 2)
    int ioctl(int fd, long request, long arg);

    @SaveError
    @Variadic(fixedCount = 2)
    int fcntl(int fd, int cmd, long arg);

    @SaveError
    int socket(int domain, int type, int protocol);

    @SaveError
    int epoll_create1(int flags);

    /** {@code event} is the address of one {@code struct epoll_event}, or 0 for EPOLL_CTL_DEL. */
    @SaveError
    int epoll_ctl(int epfd, int op, int fd, long event);

    @SaveError
    int eventfd(int initval, int flags);

    // ---- sockets and timers (VM and tunnel ports) ----

    int AF_UNIX = 1;
    int SOCK_STREAM = 1;
    int SOCK_NONBLOCK = 0x800;

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

    int EPOLLOUT = 0x004;
    int EPOLL_CTL_MOD = 3;

    int EPERM = 1;
    int ENOENT = 2;
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

    /** {@code msg} is the address of a {@code struct msghdr} (see {@code VmDgramPort}). */
    @SaveError
    @ssize_t long recvmsg(int fd, long msg, int flags);

    // ---- cold path ----

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

    /** Moves the calling thread into the namespace {@code fd} refers to (see {@link Netns}). */
    @SaveError
    int setns(int fd, int nstype);

    // ---- UDP and raw IP sockets (tunnel ports) ----

    int AF_INET6 = 10;
    int CLONE_NEWNET = 0x40000000;
    int O_RDONLY = 0;

    int IPPROTO_IP = 0;
    int IPPROTO_UDP = 17;
    int IPPROTO_IPV6 = 41;
    int SO_ATTACH_FILTER = 26;
    int IP_TTL = 2;
    int IP_MTU_DISCOVER = 10;
    int IP_MTU = 14;
    int IP_PMTUDISC_DONT = 0;
    int IP_PMTUDISC_DO = 2;
    int IPV6_CHECKSUM = 7;
    int IPV6_UNICAST_HOPS = 16;
    int IPV6_MTU_DISCOVER = 23;
    int IPV6_MTU = 24;
    int IPV6_V6ONLY = 26;
    int EADDRNOTAVAIL = 99;
    int SOL_UDP = 17;
    /** cmsg (level SOL_UDP): a u16 segment size; the kernel cuts one send into datagrams of that payload (UDP GSO). */
    int UDP_SEGMENT = 103;
    /** Sends IPv4 UDP with a zero checksum; the kernel refuses UDP GSO on such a socket. */
    int SO_NO_CHECK = 11;

    /** {@code lenAddress} points to a socklen_t holding the room at {@code addr}, replaced by the address length. */
    @SaveError
    int getsockname(int fd, long addr, long lenAddress);


    /** {@code newValue}/{@code oldValue} are addresses of {@code struct itimerspec} (oldValue may be 0). */
    @SaveError
    int timerfd_settime(int fd, int flags, long newValue, long oldValue);

    // ---- AF_PACKET and rtnetlink (system ports) ----

    int AF_NETLINK = 16;
    int AF_PACKET = 17;
    int SOCK_RAW = 3;
    int NETLINK_ROUTE = 0;

    int ENODEV = 19;
    int ENXIO = 6;
    int ENETDOWN = 100;

    /** {@code msgvec} is the address of {@code vlen} {@code struct mmsghdr}s; {@code timeout} a timespec address or 0. */
    @SaveError
    int recvmmsg(int fd, long msgvec, int vlen, int flags, long timeout);

    /** {@code msgvec} is the address of {@code vlen} {@code struct mmsghdr}s. */
    @SaveError
    int sendmmsg(int fd, long msgvec, int vlen, int flags);

    // ---- shared memory and descriptor passing (vhost-user) ----

    int PROT_READ = 0x1;
    int PROT_WRITE = 0x2;
    int MAP_SHARED = 0x01;
    /** What mmap returns on failure. */
    long MAP_FAILED = -1L;
    int MFD_CLOEXEC = 0x1;
    int SCM_RIGHTS = 1;
    int MSG_CMSG_CLOEXEC = 0x40000000;
    int MSG_CTRUNC = 0x8;

    /**
     * Returns the mapping ({@code address() == }{@link #MAP_FAILED} on failure). Cold path, hence the
     * {@code Pointer}: with all-primitive signatures (mixed int/long or all long) jnr-ffi's
     * six-argument fast invoker passed wrong values and mmap failed with EINVAL even for an anonymous
     * mapping (jnr-ffi 2.2, x86_64, checked by {@code SharedMemoryTest}); the marshalled form works.
     */
    @SaveError
    jnr.ffi.Pointer mmap(jnr.ffi.Pointer addr, @size_t long length, int prot, int flags, int fd, @jnr.ffi.types.off_t long offset);

    @SaveError
    int munmap(long addr, @size_t long length);

    @SaveError
    int memfd_create(CharSequence name, int flags);

    @SaveError
    int ftruncate(int fd, long length);

    /** {@code stat} is the address of a {@code struct stat} (see {@link SharedMemory#fileSize}); glibc 2.33+ exports it. */
    @SaveError
    int fstat(int fd, long stat);

    /** {@code msg} is the address of a {@code struct msghdr} (see {@link FdPassing}). */
    @SaveError
    @ssize_t long sendmsg(int fd, long msg, int flags);

    /** {@code fds} is the address of two ints that receive the pair. */
    @SaveError
    int socketpair(int domain, int type, int protocol, long fds);
}
