package io.vswitch.it.vxlan;

import io.vswitch.it.harness.ExecResult;
import io.vswitch.it.harness.Namespaces;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The far end made of Open vSwitch's user-space datapath in {@code host}: ovsdb-server and ovs-vswitchd
 * run inside the host namespace with every file under a private directory (as bench/namespace-bench
 * starts them), so they neither see nor touch any other OVS. OVS's user-space tunnels route and resolve
 * neighbours through its own bridges: the underlay veth goes on a netdev bridge ({@code phy}) whose
 * internal port takes the host's underlay address; the tenant bridge holds a {@code type=vxlan}
 * interface and a {@code type=internal} port moved into the tenant namespace. Userspace TSO stays off:
 * this OVS cannot send TSO packets into a tunnel (TCP stalled with it on).
 */
record OvsPeer(String host, Path dir, String tenantNetns, String tenantDev, String tenantIp, String tenantMac, String bridge) {

    static OvsPeer create(Namespaces ns, Path dir, Underlay u, int vni, String tenantCidr, int mtu) {
        String host = u.host2();
        String db = dir.resolve("conf.db").toString();
        String sock = dir.resolve("db.sock").toString();
        List<String> env = List.of("env", "OVS_RUNDIR=" + dir, "OVS_DBDIR=" + dir, "OVS_LOGDIR=" + dir, "OVS_SYSCONFDIR=" + dir);
        run(ns, host, env, "ovsdb-tool", "create", db, "/usr/share/openvswitch/vswitch.ovsschema");
        ns.startBackground(host, concat(env, "ovsdb-server", db, "--remote=punix:" + sock, "-vconsole:off",
                "--pidfile=" + dir.resolve("db.pid"), "--unixctl=" + dir.resolve("db.ctl"),
                "--log-file=" + dir.resolve("ovsdb-server.log")));
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (!Files.exists(Path.of(sock))) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("ovsdb-server did not create " + sock);
            }
            sleep(100);
        }
        List<String> vsctl = List.of(concat(env, "ovs-vsctl", "--db=unix:" + sock, "--timeout=60"));
        run(ns, host, vsctl, "--no-wait", "init");
        run(ns, host, vsctl, "--no-wait", "set", "Open_vSwitch", ".", "other_config:userspace-tso-enable=false");
        ns.startBackground(host, concat(env, "ovs-vswitchd", "unix:" + sock, "-vconsole:off",
                "--pidfile=" + dir.resolve("vswitchd.pid"), "--unixctl=" + dir.resolve("vswitchd.ctl"),
                "--log-file=" + dir.resolve("ovs-vswitchd.log")));
        String phy = ns.linkName("obp");
        String br = ns.linkName("obr");
        String vx = ns.linkName("ovx");
        String tp = ns.linkName("otp");
        run(ns, host, vsctl, "add-br", phy, "--", "set", "bridge", phy, "datapath_type=netdev");
        run(ns, host, vsctl, "add-port", phy, u.dev2());
        ns.exec(host, "ip", "addr", "flush", "dev", u.dev2()).orThrow();
        ns.addAddress(host, phy, u.addr2() + "/24");
        ns.linkUp(host, phy);
        run(ns, host, vsctl, "add-br", br, "--", "set", "bridge", br, "datapath_type=netdev");
        run(ns, host, vsctl, "add-port", br, vx, "--", "set", "interface", vx, "type=vxlan",
                "options:remote_ip=" + u.addr1(), "options:local_ip=" + u.addr2(), "options:key=" + vni);
        run(ns, host, vsctl, "add-port", br, tp, "--", "set", "interface", tp, "type=internal");
        ns.waitForLink(host, tp, Duration.ofSeconds(20));
        String tenant = ns.create("ot");
        ns.exec(tenant, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1").orThrow();
        ns.exec(host, "ip", "link", "set", tp, "netns", tenant).orThrow();
        ns.setMtu(tenant, tp, mtu);
        ns.addAddress(tenant, tp, tenantCidr);
        ns.linkUp(tenant, tp);
        return new OvsPeer(host, dir, tenant, tp, tenantCidr.substring(0, tenantCidr.indexOf('/')), ns.macAddress(tenant, tp), br);
    }

    /** {@code ovs-appctl fdb/show} of the tenant bridge. */
    String fdb(Namespaces ns) {
        return ns.exec(host, "ovs-appctl", "-t", dir.resolve("vswitchd.ctl").toString(), "fdb/show", bridge).orThrow().stdout();
    }

    /** Stops ovs-vswitchd and ovsdb-server through their control sockets (the harness kills what is left). */
    void stop(Namespaces ns) {
        ns.exec(host, "ovs-appctl", "-t", dir.resolve("vswitchd.ctl").toString(), "exit");
        ns.exec(host, "ovs-appctl", "-t", dir.resolve("db.ctl").toString(), "exit");
    }

    private static void run(Namespaces ns, String host, List<String> prefix, String... cmd) {
        ExecResult r = ns.exec(host, Duration.ofSeconds(90), concat(prefix, cmd));
        r.orThrow();
    }

    private static String[] concat(List<String> prefix, String... more) {
        List<String> all = new ArrayList<>(prefix);
        all.addAll(List.of(more));
        return all.toArray(String[]::new);
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
