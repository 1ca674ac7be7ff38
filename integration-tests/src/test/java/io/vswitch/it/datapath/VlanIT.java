package io.vswitch.it.datapath;

import io.vswitch.it.harness.SwitchTestBase;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.it.harness.ExecResult;
import io.vswitch.it.harness.Requirements;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * VLAN isolation on access ports, and a trunk port whose namespace speaks tagged frames. The kernels
 * of these machines have no 8021q (no VLAN subinterfaces) and no bridge VLAN filtering, so the trunk
 * side sends and receives its tagged ARP frames through a packet socket ({@code vlan-arp-probe.py}):
 * the same bytes a VLAN subinterface would put on the wire.
 */
class VlanIT extends SwitchTestBase {

    @BeforeEach
    void startSwitch() {
        Requirements.check("arping");
        start();
    }

    @Test
    void accessVlansAreIsolatedAndATrunkReachesBoth() {
        Host a10 = host("a", "198.18.10.1/24", "--vlan", "10");
        Host b20 = host("b", "198.18.10.2/24", "--vlan", "20");
        ns.addAddress(b20.netns(), b20.port(), "198.18.20.2/24");
        Host c10 = host("c", "198.18.10.3/24", "--vlan", "10");
        Host trunk = host("t", null, "--trunk", "10,20");

        assertTrue(ns.ping(a10.netns(), c10.ip(), 3).allReceived(), "same access VLAN");
        assertEquals(0, ns.ping(a10.netns(), b20.ip(), 3).received(), "VLAN 10 must not reach VLAN 20");

        ExecResult in10 = vlanArpProbe(trunk, 10, "198.18.10.4", a10.ip());
        assertEquals(0, in10.exitCode(), in10::describe);
        assertEquals(a10.mac(), in10.stdout().trim(), "tagged 10 reaches the VLAN 10 access port");
        ExecResult in20 = vlanArpProbe(trunk, 20, "198.18.20.4", "198.18.20.2");
        assertEquals(0, in20.exitCode(), in20::describe);
        assertEquals(b20.mac(), in20.stdout().trim(), "tagged 20 reaches the VLAN 20 access port");
        assertEquals(1, vlanArpProbe(trunk, 10, "198.18.10.4", b20.ip()).exitCode(), "198.18.10.2 lives in VLAN 20, not 10");
        assertEquals(1, vlanArpProbe(trunk, 30, "198.18.10.4", a10.ip()).exitCode(), "VLAN 30 is not on the trunk");

        assertTrue(fdb().contains(trunk.mac() + " " + trunk.port() + " 10"), () -> fdb().toString());
        assertTrue(fdb().contains(trunk.mac() + " " + trunk.port() + " 20"), () -> fdb().toString());
        assertTrue(port(trunk.port()).path("drops").path("vlan-not-allowed").asLong() > 0);
    }
}
