package io.vswitch.core.port;

import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.VnetHeader;

/**
 * Offloads a port accepts on transmit, as the {@code TUN_F_*} bits given to TUNSETOFFLOAD. A frame
 * whose offload state the output port cannot take is segmented or checksummed in software first.
 */
public final class Offloads {
    public static final int NONE = 0;
    public static final int CSUM = 0x01;
    public static final int TSO4 = 0x02;
    public static final int TSO6 = 0x04;
    public static final int TSO_ECN = 0x08;
    public static final int USO4 = 0x20;
    public static final int USO6 = 0x40;

    private Offloads() {
    }

    /** Whether a port with {@code offloads} can take {@code frame} as it is. */
    public static boolean accepts(int offloads, Frame frame) {
        if (frame.isGso()) {
            int type = frame.gsoType();
            if ((type & VnetHeader.GSO_ECN) != 0 && (offloads & TSO_ECN) == 0) {
                return false;
            }
            switch (type & ~VnetHeader.GSO_ECN) {
                case VnetHeader.GSO_TCPV4:
                    return (offloads & TSO4) != 0;
                case VnetHeader.GSO_TCPV6:
                    return (offloads & TSO6) != 0;
                case VnetHeader.GSO_UDP_L4:
                    return (offloads & (frame.etherType() == 0x86dd ? USO6 : USO4)) != 0;
                default:
                    return false;
            }
        }
        return !frame.needsChecksum() || (offloads & CSUM) != 0;
    }

    public static String describe(int offloads) {
        StringBuilder s = new StringBuilder();
        append(s, offloads, CSUM, "csum");
        append(s, offloads, TSO4, "tso4");
        append(s, offloads, TSO6, "tso6");
        append(s, offloads, TSO_ECN, "tso-ecn");
        append(s, offloads, USO4, "uso4");
        append(s, offloads, USO6, "uso6");
        return s.length() == 0 ? "none" : s.toString();
    }

    private static void append(StringBuilder s, int offloads, int bit, String name) {
        if ((offloads & bit) != 0) {
            s.append(s.length() == 0 ? "" : ",").append(name);
        }
    }
}
