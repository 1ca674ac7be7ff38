package io.vswitch.vxlan;

import java.util.ArrayList;
import java.util.List;

/**
 * What a VXLAN port was asked to be, checked: its VNI, local address, remote VTEPs, UDP port and the
 * outer-header options. Immutable.
 *
 * @param remotes configured remote VTEPs, in order (may be empty with {@code anyRemote})
 * @param anyRemote {@code --remote any}: accept and learn any source VTEP (the kernel's learning mode)
 * @param ttl outer TTL / hop limit, or null for the kernel's default
 * @param df outer IPv4 DF bit (true: set, false: unset), or null for unset (the kernel vxlan default)
 * @param udpCsum compute the UDP checksum for IPv4 outers too (IPv6 outers always carry one)
 * @param netns the namespace whose network stack carries the underlay, or null for the daemon's own
 * @param innerMtu the tenants' MTU to allow, or null for the underlay MTU minus the outer headers
 */
public record VxlanSettings(int vni, UnderlayAddress local, List<UnderlayAddress> remotes, boolean anyRemote,
        int dstPort, Integer ttl, Boolean df, boolean udpCsum, String netns, Integer innerMtu) {

    /** The word that stands for "accept any VTEP" among the remotes. */
    public static final String ANY = "any";
    /** The largest inner MTU: a jumbo frame ({@link VxlanQueue#MAX_INNER_FRAME}) under its Ethernet header. */
    public static final int MAX_INNER_MTU = VxlanQueue.MAX_INNER_FRAME - 14;

    public VxlanSettings {
        if (vni < 0 || vni > VxlanHeader.MAX_VNI) {
            throw new IllegalArgumentException("VNI " + vni + " is out of range: use 0-" + VxlanHeader.MAX_VNI);
        }
        remotes = List.copyOf(remotes);
        if (remotes.isEmpty() && !anyRemote) {
            throw new IllegalArgumentException("a vxlan port needs --remote ADDR (one per remote VTEP) or --remote any");
        }
        if (dstPort < 1 || dstPort > 65535) {
            throw new IllegalArgumentException("--dstport " + dstPort + " is out of range: use 1-65535 (4789 is the IANA port)");
        }
        if (ttl != null && (ttl < 1 || ttl > 255)) {
            throw new IllegalArgumentException("--ttl " + ttl + " is out of range: use 1-255");
        }
        if (innerMtu != null && (innerMtu < 68 || innerMtu > MAX_INNER_MTU)) {
            throw new IllegalArgumentException("--mtu " + innerMtu + " is out of range for a vxlan port: use 68-" + MAX_INNER_MTU
                    + " (the inner MTU, at most a " + VxlanQueue.MAX_INNER_FRAME + "-byte jumbo frame)");
        }
    }

    /**
     * Checks the textual settings of {@code add-port --type vxlan}; every problem is named with the fix.
     *
     * @param df "set", "unset" or null
     */
    public static VxlanSettings parse(Integer vni, String local, List<String> remotes, Integer dstPort, Integer ttl,
            String df, Boolean udpCsum, String netns, Integer innerMtu) {
        if (vni == null) {
            throw new IllegalArgumentException("a vxlan port needs --vni N (0-" + VxlanHeader.MAX_VNI + ")");
        }
        if (local == null) {
            throw new IllegalArgumentException("a vxlan port needs --local ADDR, the local VTEP address its UDP socket binds");
        }
        UnderlayAddress localAddress = UnderlayAddress.parse(local, "--local");
        boolean any = false;
        List<UnderlayAddress> parsed = new ArrayList<>();
        for (String r : remotes == null ? List.<String>of() : remotes) {
            if (r.equals(ANY)) {
                any = true;
                continue;
            }
            UnderlayAddress remote = UnderlayAddress.parse(r, "--remote");
            if (remote.isIpv6() != localAddress.isIpv6()) {
                throw new IllegalArgumentException("--remote " + r + " and --local " + local + " are of different families:"
                        + " a port's underlay is either IPv4 or IPv6");
            }
            if (parsed.contains(remote)) {
                throw new IllegalArgumentException("--remote " + r + " is given twice");
            }
            parsed.add(remote);
        }
        Boolean dfBit = null;
        if (df != null) {
            switch (df) {
                case "set" -> dfBit = true;
                case "unset" -> dfBit = false;
                default -> throw new IllegalArgumentException("--df " + df + " is not valid: use set or unset");
            }
        }
        return new VxlanSettings(vni, localAddress, parsed, any, dstPort == null ? VxlanHeader.IANA_PORT : dstPort, ttl,
                dfBit, udpCsum != null && udpCsum, netns, innerMtu);
    }

    /**
     * What an inner packet's MTU is short of the underlay MTU: the outer IP, UDP and VXLAN headers and the
     * inner Ethernet header (50 bytes over IPv4, 70 over IPv6, as the kernel's vxlan device computes).
     */
    public int overhead() {
        return local.ipHeaderLength() + VxlanHeader.UDP_LENGTH + VxlanHeader.LENGTH + 14;
    }


    /** The settings that belong to the shared socket and must agree between ports sharing it. */
    String socketOptions() {
        return "ttl=" + (ttl == null ? "default" : ttl) + " df=" + (df != null && df ? "set" : "unset")
                + " udp-csum=" + (udpCsum ? "on" : "off");
    }
}
