package io.vswitch.core.bridge;

import io.vswitch.core.flow.FlowTable;
import io.vswitch.core.port.FrameMirror;
import io.vswitch.core.port.Port;
import io.vswitch.core.port.PortCounters;
import io.vswitch.core.vlan.VlanMembership;

/**
 * A port as the bridge sees it (the kernel's {@code net_bridge_port}): the port itself, its index in
 * the bridge, its VLAN membership, flags, counters and flow-steering table. Settings are volatile
 * fields that datapath threads read on every frame and the control plane writes.
 */
public final class BridgePort {
    private final int index;
    private final Port port;
    private final PortCounters counters;
    private final FlowTable flows = new FlowTable();
    private volatile VlanMembership vlans;
    private volatile boolean learning = true;
    private volatile boolean flooding = true;
    private volatile boolean adminUp = true;
    private volatile FrameMirror mirror;

    BridgePort(int index, Port port, VlanMembership vlans) {
        this.index = index;
        this.port = port;
        this.vlans = vlans;
        this.counters = new PortCounters(port.queueCount());
        for (int i = 0; i < port.queueCount(); i++) {
            port.queue(i).allocator().countRefusalsIn(counters.queue(i));
        }
    }

    public int index() {
        return index;
    }

    public Port port() {
        return port;
    }

    public String name() {
        return port.name();
    }

    public PortCounters counters() {
        return counters;
    }

    public FlowTable flows() {
        return flows;
    }

    public VlanMembership vlans() {
        return vlans;
    }

    public void setVlans(VlanMembership vlans) {
        this.vlans = vlans;
    }

    public boolean learning() {
        return learning;
    }

    public void setLearning(boolean learning) {
        this.learning = learning;
    }

    public boolean flooding() {
        return flooding;
    }

    public void setFlooding(boolean flooding) {
        this.flooding = flooding;
    }

    public boolean adminUp() {
        return adminUp;
    }

    public void setAdminUp(boolean adminUp) {
        this.adminUp = adminUp;
    }

    /** The capture hook, or null when nobody captures this port (one volatile read per frame then). */
    public FrameMirror mirror() {
        return mirror;
    }

    public void setMirror(FrameMirror mirror) {
        this.mirror = mirror;
    }

    /** Up administratively and with a live link: may receive and be sent to. */
    public boolean forwarding() {
        return adminUp && port.linkUp();
    }
}
