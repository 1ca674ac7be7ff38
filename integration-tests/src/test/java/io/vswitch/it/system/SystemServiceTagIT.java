package io.vswitch.it.system;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.vswitch.it.harness.BackgroundProcess;
import io.vswitch.it.harness.Requirements;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * 802.1ad (S-tagged, TPID 0x88a8) frames across a system-port uplink, both ways. The uplink's kernel
 * moves the S-tag of every frame it receives into packet metadata, as it does an 802.1Q tag, so the
 * port must put it back with its own TPID, not as 0x8100: an S-tagged frame from the LAN reaches an
 * access tenant byte for byte and a trunk tenant with an 802.1Q tag of the uplink's VLAN in front of
 * the S-tag; a tenant's S-tagged frame reaches the LAN host byte for byte. Frames are written and read
 * on packet sockets ({@code raw-frame.py}).
 */
class SystemServiceTagIT extends UplinkTestBase {
    private static final String LAN_SRC = "02:00:00:2a:88:a9";
    private static final String TENANT_SRC = "02:00:00:2a:88:aa";

    @BeforeEach
    void startSwitch() {
        Requirements.check("python3");
        start();
    }

    @Test
    void sTaggedFramesCrossAnAccessUplinkUnchanged() {
        Lan lan = lan(null);
        cli("add-port", lan.uplink(), "--type", "system", "--vlan", "10");
        Host access = host("a", null, "--vlan", "10");
        Host trunk = host("tr", null, "--trunk", "10,20");

        BackgroundProcess atAccess = captureFrame(access, LAN_SRC);
        BackgroundProcess atTrunk = captureFrame(trunk, LAN_SRC);
        String fromLan = sTagged(LAN_SRC);
        sendFrame(lan.far(), fromLan);
        assertEquals(fromLan, capturedFrame(atAccess, "access tenant"));
        assertEquals(fromLan.substring(0, 24) + "8100000a" + fromLan.substring(24), capturedFrame(atTrunk, "trunk tenant"));

        BackgroundProcess atLan = captureFrame(lan.far(), TENANT_SRC);
        String fromTenant = sTagged(TENANT_SRC);
        sendFrame(access, fromTenant);
        assertEquals(fromTenant, capturedFrame(atLan, "LAN host"));
    }

    /** A broadcast from {@code src} with an S-tag of VID 300 (PCP 3), EtherType 0x88b5 (local experimental), 46 bytes. */
    private static String sTagged(String src) {
        return "ffffffffffff" + src.replace(":", "") + "88a8" + "612c" + "88b5" + "5154".repeat(23);
    }
}
