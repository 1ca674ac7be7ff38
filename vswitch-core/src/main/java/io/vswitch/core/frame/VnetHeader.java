package io.vswitch.core.frame;

/**
 * Layout of the virtio-net header that a TAP with {@code IFF_VNET_HDR} puts before every frame
 * (struct virtio_net_hdr_mrg_rxbuf, 12 bytes, little-endian as TUN uses on x86 unless told
 * otherwise with TUNSETVNETBE).
 */
public final class VnetHeader {
    /** Size we configure with TUNSETVNETHDRSZ: the mergeable-rx-buffer layout, 12 bytes. */
    public static final int SIZE = 12;

    public static final int FLAG_NEEDS_CSUM = 1;
    public static final int FLAG_DATA_VALID = 2;

    public static final int GSO_NONE = 0;
    public static final int GSO_TCPV4 = 1;
    public static final int GSO_UDP = 3;
    public static final int GSO_TCPV6 = 4;
    public static final int GSO_UDP_L4 = 5;
    public static final int GSO_ECN = 0x80;

    static final int OFF_FLAGS = 0;
    static final int OFF_GSO_TYPE = 1;
    static final int OFF_HDR_LEN = 2;
    static final int OFF_GSO_SIZE = 4;
    static final int OFF_CSUM_START = 6;
    static final int OFF_CSUM_OFFSET = 8;
    static final int OFF_NUM_BUFFERS = 10;

    private VnetHeader() {
    }
}
