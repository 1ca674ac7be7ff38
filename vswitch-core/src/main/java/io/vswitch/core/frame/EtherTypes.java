package io.vswitch.core.frame;

/** EtherType and IP protocol numbers the switch looks at. */
public final class EtherTypes {
    public static final int IPV4 = 0x0800;
    public static final int ARP = 0x0806;
    public static final int VLAN = 0x8100;
    public static final int QINQ = 0x88a8;
    /** Pre-standard QinQ TPID still sent by some gear. */
    public static final int QINQ_LEGACY = 0x9100;
    public static final int IPV6 = 0x86dd;

    public static final int PROTO_ICMP = 1;
    public static final int PROTO_TCP = 6;
    public static final int PROTO_UDP = 17;
    public static final int PROTO_ICMPV6 = 58;

    public static final int ETH_HEADER = 14;
    public static final int VLAN_TAG = 4;

    /**
     * True for the TPIDs of 802.1Q and 802.1ad tags: the headers to step over to reach L3. Only
     * {@link #VLAN} is a tag the bridge classifies by (see {@link FrameParser}).
     */
    public static boolean isStackedTagTpid(int etherType) {
        return etherType == VLAN || etherType == QINQ || etherType == QINQ_LEGACY;
    }

    private EtherTypes() {
    }
}
