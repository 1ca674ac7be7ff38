package io.vswitch.it.system;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.it.harness.ExecResult;
import io.vswitch.it.harness.Requirements;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A system port as a VLAN trunk toward a LAN: the LAN is a kernel bridge (no VLAN filtering, so it
 * carries tagged frames as they are) in a namespace joined to the switch by a veth, and a LAN host
 * speaks tagged ARP through a packet socket ({@code vlan-arp-probe.py}; this kernel has no 8021q, so
 * no VLAN subinterfaces). The kernel strips the tag of every frame the uplink receives, so this also
 * proves the port puts it back.
 */
class SystemTrunkIT extends UplinkTestBase {

    @BeforeEach
    void startSwitch() {
        Requirements.check("python3");
        start();
    }

    @Test
    void taggedLanReachesAccessTenantsThroughATrunkUplink() {
        Lan lan = lan(null);
        String uplink = lan.uplink();
        Host far = lan.far();

        cli("add-port", uplink, "--type", "system", "--trunk", "10,20");
        Host a10 = host("a", "198.18.10.1/24", "--vlan", "10");
        Host b20 = host("b", "198.18.20.2/24", "--vlan", "20");

        ExecResult in10 = vlanArpProbe(far, 10, "198.18.10.4", a10.ip());
        assertEquals(0, in10.exitCode(), in10::describe);
        assertEquals(a10.mac(), in10.stdout().trim(), "the VLAN 10 tenant answers, tagged 10 on the LAN");
        ExecResult in20 = vlanArpProbe(far, 20, "198.18.20.4", b20.ip());
        assertEquals(0, in20.exitCode(), in20::describe);
        assertEquals(b20.mac(), in20.stdout().trim());
        assertEquals(1, vlanArpProbe(far, 10, "198.18.20.4", b20.ip()).exitCode(), "198.18.20.2 lives in VLAN 20, not 10");
        assertEquals(1, vlanArpProbe(far, 30, "198.18.10.4", a10.ip()).exitCode(), "VLAN 30 is not on the trunk");
        assertTrue(fdb().contains(far.mac() + " " + uplink + " 10"), () -> fdb().toString());
        assertTrue(fdb().contains(far.mac() + " " + uplink + " 20"), () -> fdb().toString());
        assertTrue(port(uplink).path("drops").path("vlan-not-allowed").asLong() > 0, () -> port(uplink).toString());
    }
}
