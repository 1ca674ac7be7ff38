package io.vswitch.core.vlan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class VlanMembershipTest {
    @Test
    void accessPortTakesUntaggedOnly() {
        VlanMembership m = VlanMembership.access(10);
        assertEquals(10, m.ingressVlan(-1));
        assertEquals(10, m.ingressVlan(0), "a priority tag counts as untagged");
        assertEquals(VlanMembership.NOT_MEMBER, m.ingressVlan(10));
        assertTrue(m.carries(10));
        assertFalse(m.carries(11));
        assertFalse(m.egressTagged(10));
        assertEquals("access vlan 10", m.toString());
    }

    @Test
    void trunkWithAndWithoutNative() {
        VlanMembership t = VlanMembership.trunk(List.of(10, 20), 0);
        assertEquals(VlanMembership.NOT_MEMBER, t.ingressVlan(-1), "untagged dropped without a native VLAN");
        assertEquals(20, t.ingressVlan(20));
        assertEquals(VlanMembership.NOT_MEMBER, t.ingressVlan(30));
        assertTrue(t.egressTagged(20));
        VlanMembership n = VlanMembership.trunk(List.of(20), 10);
        assertEquals(10, n.ingressVlan(-1));
        assertFalse(n.egressTagged(10));
        assertTrue(n.egressTagged(20));
        assertEquals("trunk 20 native 10", n.toString());
        assertEquals("trunk native 10", VlanMembership.trunk(List.of(10), 10).toString());
    }

    @Test
    void defaultCarriesEverythingAndKeepsUntaggedApart() {
        VlanMembership d = VlanMembership.DEFAULT;
        assertEquals(0, d.ingressVlan(-1));
        assertEquals(4094, d.ingressVlan(4094));
        assertFalse(d.egressTagged(0));
        assertTrue(d.egressTagged(7));
        assertEquals("trunk all", d.toString());
    }

    @Test
    void rejectsOutOfRangeVlans() {
        assertThrows(IllegalArgumentException.class, () -> VlanMembership.access(0));
        assertThrows(IllegalArgumentException.class, () -> VlanMembership.access(4095));
        assertThrows(IllegalArgumentException.class, () -> VlanMembership.trunk(List.of(), 0));
    }
}
