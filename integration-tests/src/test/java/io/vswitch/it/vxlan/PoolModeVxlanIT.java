package io.vswitch.it.vxlan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.it.harness.PingResult;
import io.vswitch.it.harness.SwitchProcess;
import org.junit.jupiter.api.Test;

/**
 * VXLAN on a pool of one datapath thread ({@code --datapath-threads 1}): two VNIs share one socket, so
 * one queue of the pool thread receives for two ports (the shared-queue dispatch), beside the tenants'
 * TAP queues on the same thread. Both VNIs reach their kernel peers' tenants and only those; then the
 * port that owns the socket is removed under the pool thread and the other VNI keeps forwarding on the
 * socket it takes over.
 */
class PoolModeVxlanIT extends VxlanTestBase {

    @Override
    protected SwitchProcess.Builder daemon() {
        return SwitchProcess.builder().args("--datapath-threads", "1");
    }

    @Test
    void twoVnisOnASharedSocketForwardOnOnePoolThreadAndSurviveTheOwnersRemoval() {
        Underlay u = Underlay.create(ns, false);
        KernelPeer far100 = KernelPeer.create(ns, u.host2(), 100, u.addr2(), u.addr1(), "198.18.103.11/24", 1450);
        KernelPeer far200 = KernelPeer.create(ns, u.host2(), 200, u.addr2(), u.addr1(), "198.18.103.12/24", 1450);
        String vx100 = vxlanPort(100, u.addr1(), u.addr2(), u.host1(), "--vlan", "10");
        String vx200 = vxlanPort(200, u.addr1(), u.addr2(), u.host1(), "--vlan", "20");
        Host a100 = host("a1", "198.18.103.1/24", "--mtu", "1450", "--vlan", "10");
        Host a200 = host("a2", "198.18.103.2/24", "--mtu", "1450", "--vlan", "20");
        assertEquals(vx100, port(vx200).path("vxlan").path("receivingPort").asText(), "both VNIs share one socket");
        for (String p : new String[] {vx100, a100.port(), a200.port()}) {
            assertEquals("dp-0", port(p).path("datapathQueues").path(0).path("thread").asText(), p + " on the pool thread");
        }

        assertReaches(a100, far100.tenantNetns(), far100.tenantIp());
        assertReaches(a200, far200.tenantNetns(), far200.tenantIp());
        PingResult leak = ns.ping(a100.netns(), far200.tenantIp(), 2);
        assertEquals(0, leak.received(), leak::toString);
        assertTrue(iperfBits(a200.netns(), far200.tenantNetns(), far200.tenantIp()) > 0, "TCP over VNI 200");

        cli("del-port", vx100);
        assertReaches(a200, far200.tenantNetns(), far200.tenantIp());
        assertTrue(iperfBits(far200.tenantNetns(), a200.netns(), a200.ip()) > 0, "TCP over VNI 200 after the removal");
        assertEquals("running", port(vx200).path("datapath").asText());
    }

    private void assertReaches(Host tenant, String farNetns, String farIp) {
        PingResult there = ns.ping(tenant.netns(), farIp, 3);
        PingResult back = ns.ping(farNetns, tenant.ip(), 3);
        assertTrue(there.allReceived(), there::toString);
        assertTrue(back.allReceived(), back::toString);
    }
}
