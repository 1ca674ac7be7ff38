package io.vswitch.linux;

import java.nio.charset.StandardCharsets;

/**
 * A native {@code struct ifreq} (40 bytes on 64-bit Linux): the interface name followed by a 24-byte
 * union whose meaning depends on the ioctl. The creator owns it and must {@link #close()} it.
 */
public final class IfReq implements AutoCloseable {

    /** IFNAMSIZ: 15 characters plus the terminating NUL. */
    private static final int NAME_SIZE = 16;
    private static final int SIZE = 40;
    private static final int UNION = NAME_SIZE;

    private final NativeBuffer mem = new NativeBuffer(SIZE);

    public IfReq(String name) {
        byte[] bytes = name.getBytes(StandardCharsets.US_ASCII);
        if (bytes.length >= NAME_SIZE) {
            throw new IllegalArgumentException("interface name longer than 15 characters: " + name);
        }
        mem.put(0, bytes, 0, bytes.length);
    }

    public long address() {
        return mem.address();
    }

    /** The name, as written back by the kernel (e.g. TUNSETIFF fills in a "tap%d" template). */
    public String name() {
        byte[] bytes = new byte[NAME_SIZE];
        mem.get(0, bytes, 0, NAME_SIZE);
        int length = 0;
        while (length < NAME_SIZE && bytes[length] != 0) {
            length++;
        }
        return new String(bytes, 0, length, StandardCharsets.US_ASCII);
    }

    /** ifr_flags, ifr_ifindex and ifr_mtu all live at the start of the union. */
    public short getShort() {
        return mem.getShort(UNION);
    }

    public void putShort(short value) {
        mem.putShort(UNION, value);
    }

    public int getInt() {
        return mem.getInt(UNION);
    }

    public void putInt(int value) {
        mem.putInt(UNION, value);
    }

    /** ifr_hwaddr: a {@code struct sockaddr} with the given family and address bytes. */
    public void putSockaddr(short family, byte[] data) {
        mem.putShort(UNION, family);
        mem.put(UNION + 2, data, 0, data.length);
    }

    @Override
    public void close() {
        mem.close();
    }
}
