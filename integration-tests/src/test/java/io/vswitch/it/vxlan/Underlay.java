package io.vswitch.it.vxlan;

import io.vswitch.it.harness.Namespaces;

/**
 * Two "hosts" joined by a veth underlay: {@link #host1} and {@link #host2} are the namespaces whose
 * network stacks carry the tunnel, with {@link #addr1}/{@link #addr2} on the veth pair. IPv4 uses
 * 198.18.100.0/24, IPv6 2001:2:0:100::/64 (the benchmarking prefixes, RFC 2544 and RFC 5180).
 *
 * <p>Transmit checksum offload is off on both veth ends: a veth hands the peer a packet whose checksums
 * a NIC would have filled in still unfilled (CHECKSUM_PARTIAL), which the kernel's own vxlan trusts on
 * receive but a user-space VTEP, reading the inner frame from a UDP socket, cannot know about.
 */
record Underlay(String host1, String dev1, String addr1, String host2, String dev2, String addr2) {

    static Underlay create(Namespaces ns, boolean ipv6) {
        return create(ns, ipv6, 1500);
    }

    /** Like {@link #create(Namespaces, boolean)} with {@code mtu} on both veth ends (9000: a jumbo underlay). */
    static Underlay create(Namespaces ns, boolean ipv6, int mtu) {
        String h1 = ns.create("u1");
        String h2 = ns.create("u2");
        String d1 = ns.linkName("ul");
        String d2 = ns.linkName("ul");
        ns.vethPair(h1, d1, h2, d2);
        String a1 = ipv6 ? "2001:2:0:100::1" : "198.18.100.1";
        String a2 = ipv6 ? "2001:2:0:100::2" : "198.18.100.2";
        String prefix = ipv6 ? "/64" : "/24";
        for (String[] end : new String[][] {{h1, d1, a1}, {h2, d2, a2}}) {
            ns.exec(end[0], "ethtool", "-K", end[1], "tx", "off").orThrow();
            ns.setMtu(end[0], end[1], mtu);
            if (ipv6) {
                ns.exec(end[0], "sysctl", "-qw", "net.ipv6.conf." + end[1] + ".accept_dad=0").orThrow();
            }
            if (ipv6) {
                ns.exec(end[0], "ip", "addr", "add", end[2] + prefix, "dev", end[1], "nodad").orThrow();
            } else {
                ns.addAddress(end[0], end[1], end[2] + prefix);
            }
            ns.linkUp(end[0], end[1]);
            ns.linkUp(end[0], "lo");
        }
        return new Underlay(h1, d1, a1, h2, d2, a2);
    }
}
