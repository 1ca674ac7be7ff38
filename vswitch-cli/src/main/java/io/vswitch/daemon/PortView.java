package io.vswitch.daemon;

import io.vswitch.core.bridge.BridgePort;
import io.vswitch.core.port.Offloads;
import io.vswitch.core.port.PortCounters;
import io.vswitch.system.SystemPort;
import io.vswitch.vm.VmPort;
import io.vswitch.vm.VmStreamPort;
import io.vswitch.vm.vhost.VhostUserPort;
import io.vswitch.vxlan.VxlanPort;
import java.util.ArrayList;
import java.util.List;
import java.util.LinkedHashMap;
import java.util.Map;

/** One port as {@code show}, {@code add-port} and {@code set-port} describe it. */
final class PortView {
    private PortView() {
    }

    /** Call under the daemon's lock (reads the registry entry; counters are read lock-free). */
    static Map<String, Object> describe(Vswitchd daemon, PortRegistry.Entry e) {
        BridgePort p = e.bridgePort;
        PortCounters c = p.counters();
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("name", p.name());
        out.put("type", p.port().kind());
        out.put("index", p.index());
        out.put("queues", p.port().queueCount());
        out.put("vlanMode", p.vlans().toString());
        QueueSupervisor.State datapath = e.datapathState();
        out.put("link", p.port().linkUp() && datapath == QueueSupervisor.State.RUNNING ? "up" : "down");
        out.put("admin", p.adminUp() ? "up" : "down");
        out.put("learning", p.learning());
        out.put("flooding", p.flooding());
        out.put("offloads", Offloads.describe(p.port().offloads()));
        out.put("linkLosses", e.linkLosses.get());
        out.put("datapath", datapath.label());
        out.put("threadDeaths", e.threadDeaths());
        out.put("threadRestarts", e.threadRestarts());
        if (e.lastThreadFailure() != null) {
            out.put("lastThreadFailure", e.lastThreadFailure());
        }
        out.put("datapathQueues", datapathQueues(e));
        out.put("learnedMacs", daemon.bridge().fdb().learnedOnPort(p.index()));
        out.put("rxPackets", c.rxPackets());
        out.put("rxBytes", c.rxBytes());
        out.put("txPackets", c.txPackets());
        out.put("txBytes", c.txBytes());
        out.put("rxGsoFrames", c.rxGso());
        out.put("txSegmented", c.txSegmented());
        out.put("rxNoBuffer", c.rxNoBuffer());
        Map<String, Long> drops = new LinkedHashMap<>();
        c.dropsByReason().forEach((r, n) -> drops.put(r.label(), n));
        out.put("drops", drops);
        if (p.port() instanceof VmPort vm) {
            out.put("qemu", vm.qemuNetdev());
            out.put("socket", vm.socketPath().toString());
            if (vm instanceof VmStreamPort stream && stream.guestPid() > 0) {
                out.put("guestPid", stream.guestPid());
            }
            out.put("vmEvents", vm.eventCounts());
        }
        if (p.port() instanceof SystemPort sys) {
            out.put("ifindex", sys.ifindex());
            out.put("systemEvents", sys.eventCounts());
        }
        if (p.port() instanceof VhostUserPort vhost) {
            describeVhostUser(out, vhost, c);
        }
        if (p.port() instanceof VxlanPort vxlan) {
            out.put("vxlan", vxlan.describe());
        }
        out.put("spec", e.spec);
        return out;
    }

    /** Each queue's datapath thread ({@code dp-PORT-qN} of its own, or a pool thread {@code dp-N}) and its state. */
    private static List<Map<String, Object>> datapathQueues(PortRegistry.Entry e) {
        long now = System.nanoTime();
        List<Map<String, Object>> out = new ArrayList<>();
        for (int q = 0; q < e.queues.size(); q++) {
            PortRegistry.ServedQueue served = e.queues.get(q);
            Map<String, Object> one = new LinkedHashMap<>();
            one.put("queue", q);
            one.put("thread", served.thread().name());
            one.put("datapath", served.state(now).label());
            out.add(one);
        }
        return out;
    }

    /**
     * The QEMU arguments (for a TCG guest, and why), the connection, rings, events and per-queue
     * counters, with the interrupts we asked of the guest per ring (frames delivered, sent buffers
     * given back).
     */
    private static void describeVhostUser(Map<String, Object> out, VhostUserPort vhost, PortCounters c) {
        out.put("qemu", String.join(" ", vhost.qemuArguments("256M", true)));
        out.put("qemuNote", "size= is the guest's -m; vectors=0 because QEMU 7.2 under TCG crashes with MSI-X on a"
                + " vhost-user device: with KVM use vectors=" + (2 * vhost.queueCount() + 2));
        out.put("socket", vhost.socketPath().toString());
        out.put("mode", vhost.mode().label());
        out.put("connected", vhost.connected());
        if (vhost.peerPid() > 0) {
            out.put("guestPid", vhost.peerPid());
        }
        out.put("features", "0x" + Long.toHexString(vhost.features()));
        out.put("rings", vhost.ringStates());
        out.put("vhostEvents", vhost.eventCounts());
        List<Map<String, Long>> perQueue = new ArrayList<>();
        for (int q = 0; q < c.queueCount(); q++) {
            Map<String, Long> one = new LinkedHashMap<>();
            one.put("rxPackets", c.queue(q).rxPackets());
            one.put("txPackets", c.queue(q).txPackets());
            one.put("guestRxNotifications", vhost.guestRxNotifications(q));
            one.put("guestTxNotifications", vhost.guestTxNotifications(q));
            perQueue.add(one);
        }
        out.put("queueCounters", perQueue);
    }
}
