package io.vswitch.it.vxlan;

import io.vswitch.it.harness.Namespaces;

/**
 * The far end made of the Linux kernel's own parts, in {@code host}: a {@code vxlan} device (static
 * remote, learning on) in a kernel bridge with a veth to a tenant namespace at {@code tenantCidr}
 * (MTU 1450 over IPv4, 1430 over IPv6: the inner MTU). The vxlan device and the bridge's port towards
 * the tenant get the tenant's MTU too, so a jumbo inner MTU holds on the whole path.
 */
record KernelPeer(String host, String vxlanDev, String tenantNetns, String tenantDev, String tenantIp, String tenantMac) {

    static KernelPeer create(Namespaces ns, String host, int vni, String local, String remote, String tenantCidr, int mtu) {
        String vx = ns.linkName("kvx");
        String br = ns.linkName("kbr");
        ns.exec(host, "ip", "link", "add", vx, "type", "vxlan", "id", Integer.toString(vni), "local", local, "remote", remote,
                "dstport", "4789").orThrow();
        ns.exec(host, "ip", "link", "add", br, "type", "bridge").orThrow();
        String tenant = ns.create("kt");
        ns.exec(tenant, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1").orThrow();
        String dev = ns.linkName("kt");
        String port = ns.linkName("ktp");
        ns.vethPair(tenant, dev, host, port);
        ns.exec(host, "ip", "link", "set", vx, "master", br).orThrow();
        ns.exec(host, "ip", "link", "set", port, "master", br).orThrow();
        ns.setMtu(host, vx, mtu);
        ns.setMtu(host, port, mtu);
        for (String d : new String[] {vx, port, br}) {
            ns.linkUp(host, d);
        }
        ns.setMtu(tenant, dev, mtu);
        ns.addAddress(tenant, dev, tenantCidr);
        ns.linkUp(tenant, dev);
        return new KernelPeer(host, vx, tenant, dev, tenantCidr.substring(0, tenantCidr.indexOf('/')), ns.macAddress(tenant, dev));
    }

    /** {@code bridge fdb show dev VXLAN} on the kernel side. */
    String fdb(Namespaces ns) {
        return ns.exec(host, "bridge", "fdb", "show", "dev", vxlanDev).orThrow().stdout();
    }
}
