package io.vswitch.core.frame;

import static io.vswitch.core.frame.EtherTypes.ETH_HEADER;

/**
 * Classifies a frame's headers in place: Ethernet, up to {@value #MAX_TAGS} 802.1Q/802.1ad tags,
 * IPv4 (options, fragments), IPv6 (the extension headers that can be skipped by length), and the
 * TCP/UDP header. Results are stored in the frame; nothing is allocated and nothing throws: a
 * malformed frame gets a {@link DropReason} code instead.
 *
 * <p>The switch is an 802.1Q bridge, as the Linux bridge with {@code vlan_protocol 802.1Q}: only an
 * outermost tag with TPID 0x8100 is the frame's VLAN tag ({@link Frame#tagOffset()}). A frame whose
 * outer tag is an 802.1ad S-tag (0x88a8, or the pre-standard 0x9100) is untagged to the bridge and the
 * S-tag is payload, so it leaves unchanged and a tag the switch adds goes in front of it. Stacked tags
 * of any of these TPIDs are still stepped over to find the L3 header for flow hashing and offloads.
 */
public final class FrameParser {
    /** Result code for a frame that parsed cleanly. */
    public static final int OK = -1;
    /** Tags beyond this many are left unparsed (the frame is then treated as non-IP). */
    public static final int MAX_TAGS = 2;
    private static final int MAX_IPV6_EXTENSIONS = 8;

    private FrameParser() {
    }

    /**
     * Parses {@code frame}.
     *
     * @return {@link #OK}, or the {@link DropReason#ordinal()} of why the frame is malformed
     */
    public static int parse(Frame frame) {
        int len = frame.length();
        frame.tagOffset = Frame.NONE;
        frame.vlanId = Frame.NONE;
        frame.tagCount = 0;
        frame.l3Offset = Frame.NONE;
        frame.l4Offset = Frame.NONE;
        frame.ipProto = Frame.NONE;
        frame.ipFragment = false;
        frame.laterFragment = false;
        if (len < ETH_HEADER) {
            return DropReason.RUNT.ordinal();
        }
        int off = 12;
        int type = frame.u16(off);
        while (EtherTypes.isStackedTagTpid(type) && frame.tagCount < MAX_TAGS) {
            if (off + 4 + 2 > len) {
                return DropReason.TRUNCATED_VLAN.ordinal();
            }
            if (frame.tagCount == 0 && type == EtherTypes.VLAN) {
                frame.tagOffset = off;
                frame.vlanId = frame.u16(off + 2) & 0x0fff;
            }
            frame.tagCount++;
            off += 4;
            type = frame.u16(off);
        }
        frame.etherType = type;
        int l3 = off + 2;
        frame.l3Offset = l3;
        if (type == EtherTypes.IPV4) {
            return parseIpv4(frame, l3, len);
        }
        if (type == EtherTypes.IPV6) {
            return parseIpv6(frame, l3, len);
        }
        return OK;
    }

    private static int parseIpv4(Frame frame, int l3, int len) {
        if (l3 + 20 > len) {
            return DropReason.TRUNCATED_IPV4.ordinal();
        }
        int vihl = frame.u8(l3);
        int ihl = (vihl & 0x0f) * 4;
        if ((vihl >>> 4) != 4 || ihl < 20) {
            return DropReason.BAD_IPV4_HEADER.ordinal();
        }
        if (l3 + ihl > len) {
            return DropReason.TRUNCATED_IPV4.ordinal();
        }
        int total = frame.u16(l3 + 2);
        if (total < ihl || l3 + total > len) {
            return DropReason.BAD_IPV4_LENGTH.ordinal();
        }
        int fragField = frame.u16(l3 + 6);
        int fragOffset = fragField & 0x1fff;
        boolean moreFragments = (fragField & 0x2000) != 0;
        frame.ipFragment = moreFragments || fragOffset != 0;
        frame.laterFragment = fragOffset != 0;
        int proto = frame.u8(l3 + 9);
        frame.ipProto = proto;
        return parseL4(frame, l3 + ihl, l3 + total, proto);
    }

    private static int parseIpv6(Frame frame, int l3, int len) {
        if (l3 + 40 > len || (frame.u8(l3) >>> 4) != 6) {
            return DropReason.TRUNCATED_IPV6.ordinal();
        }
        int payload = frame.u16(l3 + 4);
        int end = l3 + 40 + payload;
        if (payload == 0 && frame.isGso()) {
            end = len; // BIG TCP super-frames carry payload length 0 (RFC 2675 style)
        } else if (end > len) {
            return DropReason.BAD_IPV6_LENGTH.ordinal();
        }
        int next = frame.u8(l3 + 6);
        int off = l3 + 40;
        for (int i = 0; i < MAX_IPV6_EXTENSIONS; i++) {
            int extLen;
            switch (next) {
                case 0, 43, 60 -> { // hop-by-hop, routing, destination options
                    if (off + 8 > end) {
                        return DropReason.BAD_IPV6_LENGTH.ordinal();
                    }
                    extLen = (frame.u8(off + 1) + 1) * 8;
                }
                case 44 -> { // fragment
                    if (off + 8 > end) {
                        return DropReason.BAD_IPV6_LENGTH.ordinal();
                    }
                    int fragField = frame.u16(off + 2);
                    frame.ipFragment = true;
                    frame.laterFragment = (fragField & 0xfff8) != 0;
                    extLen = 8;
                }
                case 51 -> { // authentication header
                    if (off + 8 > end) {
                        return DropReason.BAD_IPV6_LENGTH.ordinal();
                    }
                    extLen = (frame.u8(off + 1) + 2) * 4;
                }
                default -> {
                    frame.ipProto = next;
                    return parseL4(frame, off, end, next);
                }
            }
            if (off + extLen > end) {
                return DropReason.BAD_IPV6_LENGTH.ordinal();
            }
            next = frame.u8(off);
            off += extLen;
        }
        frame.ipProto = next; // chain too long to follow: classify by addresses only
        return OK;
    }

    private static int parseL4(Frame frame, int l4, int end, int proto) {
        if (frame.laterFragment) {
            return OK;
        }
        if (proto == EtherTypes.PROTO_TCP) {
            if (l4 + 20 > end) {
                return DropReason.TRUNCATED_L4.ordinal();
            }
            int doff = (frame.u8(l4 + 12) >>> 4) * 4;
            if (doff < 20 || l4 + doff > end) {
                return DropReason.TRUNCATED_L4.ordinal();
            }
            frame.l4Offset = l4;
        } else if (proto == EtherTypes.PROTO_UDP) {
            if (l4 + 8 > end) {
                return DropReason.TRUNCATED_L4.ordinal();
            }
            frame.l4Offset = l4;
        } else {
            frame.l4Offset = l4;
        }
        return OK;
    }
}
