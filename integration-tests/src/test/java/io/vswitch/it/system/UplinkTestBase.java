package io.vswitch.it.system;

import io.vswitch.it.harness.SwitchTestBase;

/**
 * A LAN for the system-port tests: a namespace with a kernel bridge, a veth whose root-namespace end
 * (the uplink) goes on the switch as a system port, the way a host's NIC would, and a far host on a
 * veth of its own behind the bridge.
 */
abstract class UplinkTestBase extends SwitchTestBase {

    /** The LAN: its namespace, the uplink (root-namespace veth end on the switch) and the far host. */
    record Lan(String netns, String uplink, String lanSide, Host far) {
    }

    /** The LAN namespace with bridge br0, the uplink veth into it, and a far host at farCidr (null: none) behind br0. */
    protected Lan lan(String farCidr) {
        String lanNs = ns.create("lan");
        String farNs = ns.create("far");
        for (String n : new String[] {lanNs, farNs}) {
            ns.exec(n, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1").orThrow();
            ns.exec(n, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1").orThrow();
        }
        String lanSide = ns.linkName("l");
        String uplink = rootVeth("u", lanNs, lanSide);
        ns.exec(lanNs, "ip", "link", "add", "br0", "type", "bridge").orThrow();
        ns.exec(lanNs, "ip", "link", "set", "dev", lanSide, "master", "br0").orThrow();
        String farIf = ns.linkName("f");
        String bridgeSide = ns.linkName("b");
        ns.vethPair(farNs, farIf, lanNs, bridgeSide);
        ns.exec(lanNs, "ip", "link", "set", "dev", bridgeSide, "master", "br0").orThrow();
        for (String dev : new String[] {"br0", lanSide, bridgeSide}) {
            ns.linkUp(lanNs, dev);
        }
        Host far = configure(farNs, farIf, farCidr);
        return new Lan(lanNs, uplink, lanSide, far);
    }
}
