package io.vswitch.linux;

/**
 * Link configuration of a network interface by name with the classic {@code SIOC*IF*} ioctls, so no
 * {@code ip} process is forked for it.
 *
 * <p>These ioctls need some socket to be issued on; any AF_INET datagram socket will do, and it
 * resolves the name in the network namespace the socket was created in (the caller's). Each call opens
 * and closes its own socket: this is the cold path and holding no fd keeps ownership trivial.
 */
public final class NetDevice {

    private static final long SIOCGIFNAME = 0x8910;
    private static final long SIOCGIFFLAGS = 0x8913;
    private static final long SIOCSIFFLAGS = 0x8914;
    private static final long SIOCGIFMTU = 0x8921;
    private static final long SIOCSIFMTU = 0x8922;
    private static final long SIOCSIFHWADDR = 0x8924;
    private static final long SIOCGIFINDEX = 0x8933;
    public static final int IFF_UP = 0x1;
    /** Up and carrier present ({@code netif_oper_up}): what {@code ip link} shows as RUNNING/LOWER_UP. */
    public static final int IFF_RUNNING = 0x40;
    public static final int IFF_PROMISC = 0x100;
    private static final short ARPHRD_ETHER = 1;

    private NetDevice() {
    }

    public static int ifindex(String name) throws ErrnoException {
        try (IfReq req = new IfReq(name)) {
            ioctl(SIOCGIFINDEX, req, name);
            return req.getInt();
        }
    }

    /**
     * The name of interface {@code ifindex} in our namespace, or null if there is none (deleted, or
     * moved to another namespace).
     */
    public static String nameOf(int ifindex) throws ErrnoException {
        try (IfReq req = new IfReq("")) {
            req.putInt(ifindex);
            LibC libc = LibC.INSTANCE;
            int sock = socket();
            try {
                if (libc.ioctl(sock, SIOCGIFNAME, req.address()) < 0) {
                    if (LibC.errno() == LibC.ENODEV) {
                        return null;
                    }
                    throw ErrnoException.last("SIOCGIFNAME " + ifindex);
                }
            } finally {
                libc.close(sock);
            }
            return req.name();
        }
    }

    /** The interface's {@code ifr_flags} (IFF_UP, {@link #IFF_RUNNING}, ...), as an unsigned 16-bit value. */
    public static int flags(String name) throws ErrnoException {
        try (IfReq req = new IfReq(name)) {
            ioctl(SIOCGIFFLAGS, req, name);
            return req.getShort() & 0xffff;
        }
    }

    public static boolean isUp(String name) throws ErrnoException {
        try (IfReq req = new IfReq(name)) {
            ioctl(SIOCGIFFLAGS, req, name);
            return (req.getShort() & IFF_UP) != 0;
        }
    }

    /** Sets or clears IFF_UP, keeping the other flags (read-modify-write of ifr_flags). */
    public static void setUp(String name, boolean up) throws ErrnoException {
        try (IfReq req = new IfReq(name)) {
            ioctl(SIOCGIFFLAGS, req, name);
            short flags = req.getShort();
            req.putShort((short) (up ? flags | IFF_UP : flags & ~IFF_UP));
            ioctl(SIOCSIFFLAGS, req, name);
        }
    }

    public static int mtu(String name) throws ErrnoException {
        try (IfReq req = new IfReq(name)) {
            ioctl(SIOCGIFMTU, req, name);
            return req.getInt();
        }
    }

    public static void setMtu(String name, int mtu) throws ErrnoException {
        try (IfReq req = new IfReq(name)) {
            req.putInt(mtu);
            ioctl(SIOCSIFMTU, req, name);
        }
    }

    public static void setMac(String name, byte[] mac) throws ErrnoException {
        if (mac.length != 6) {
            throw new IllegalArgumentException("MAC must be 6 bytes, got " + mac.length);
        }
        try (IfReq req = new IfReq(name)) {
            req.putSockaddr(ARPHRD_ETHER, mac);
            ioctl(SIOCSIFHWADDR, req, name);
        }
    }

    private static void ioctl(long request, IfReq req, String name) throws ErrnoException {
        LibC libc = LibC.INSTANCE;
        int sock = socket();
        try {
            if (libc.ioctl(sock, request, req.address()) < 0) {
                throw ErrnoException.last(String.format("ioctl(0x%x) on %s", request, name));
            }
        } finally {
            libc.close(sock);
        }
    }

    private static int socket() throws ErrnoException {
        int sock = LibC.INSTANCE.socket(LibC.AF_INET, LibC.SOCK_DGRAM | LibC.SOCK_CLOEXEC, 0);
        if (sock < 0) {
            throw ErrnoException.last("socket(AF_INET, SOCK_DGRAM)");
        }
        return sock;
    }
}
