package io.vswitch.core.bridge;

import io.vswitch.core.fdb.Fdb;
import io.vswitch.core.port.Port;
import io.vswitch.core.vlan.VlanMembership;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The switch's port set and learning table (the kernel's {@code br_if.c}). Ports are attached and
 * detached by the control plane; datapath threads read the port arrays without locks, since every
 * change publishes fresh copies (ports change rarely, frames constantly).
 */
public final class Bridge {
    public static final int MAX_PORTS = 1024;

    private final Fdb fdb;
    private final Object lock = new Object();
    private volatile BridgePort[] byIndex = new BridgePort[MAX_PORTS];
    private volatile BridgePort[] ports = new BridgePort[0];

    public Bridge() {
        this(new Fdb(MAX_PORTS));
    }

    public Bridge(Fdb fdb) {
        this.fdb = fdb;
    }

    public Fdb fdb() {
        return fdb;
    }

    /** Adds {@code port} to the bridge; the caller keeps owning (and later closes) the port. */
    public BridgePort attach(Port port, VlanMembership vlans) {
        synchronized (lock) {
            if (find(port.name()) != null) {
                throw new IllegalArgumentException("port " + port.name() + " already exists");
            }
            BridgePort[] slots = byIndex;
            int index = -1;
            for (int i = 0; i < slots.length; i++) {
                if (slots[i] == null) {
                    index = i;
                    break;
                }
            }
            if (index < 0) {
                throw new IllegalStateException("bridge is full: at most " + MAX_PORTS + " ports");
            }
            BridgePort added = new BridgePort(index, port, vlans);
            BridgePort[] nextSlots = slots.clone();
            nextSlots[index] = added;
            BridgePort[] nextPorts = Arrays.copyOf(ports, ports.length + 1);
            nextPorts[nextPorts.length - 1] = added;
            byIndex = nextSlots;
            ports = nextPorts;
            return added;
        }
    }

    /** Removes the port and every FDB entry pointing at it. Does not close the port. */
    public void detach(BridgePort port) {
        synchronized (lock) {
            BridgePort[] nextSlots = byIndex.clone();
            if (nextSlots[port.index()] != port) {
                return;
            }
            nextSlots[port.index()] = null;
            List<BridgePort> rest = new ArrayList<>(Arrays.asList(ports));
            rest.remove(port);
            byIndex = nextSlots;
            ports = rest.toArray(new BridgePort[0]);
            fdb.flush(port.index(), true);
        }
    }

    /** The port with {@code index}, or null. Lock-free. */
    public BridgePort portAt(int index) {
        return byIndex[index];
    }

    /** Every attached port, in attach order. The array must not be modified. Lock-free. */
    public BridgePort[] ports() {
        return ports;
    }

    /** The port named {@code name}, or null (cold path). */
    public BridgePort find(String name) {
        for (BridgePort p : ports) {
            if (p.name().equals(name)) {
                return p;
            }
        }
        return null;
    }
}
