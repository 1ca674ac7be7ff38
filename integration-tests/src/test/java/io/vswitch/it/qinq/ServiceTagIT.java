package io.vswitch.it.qinq;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.vswitch.it.harness.BackgroundProcess;
import io.vswitch.it.harness.SwitchTestBase;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * An 802.1ad (TPID 0x88a8) tagged frame through real TAPs: vswitch is an 802.1Q bridge, so the S-tag
 * is payload. Sent into an access port of VLAN 10, the frame leaves the other access ports of VLAN 10
 * byte for byte as it came, and the trunk with an 802.1Q tag of VLAN 10 in front of the S-tag. The
 * frames are written and read on packet sockets in the namespaces ({@code raw-frame.py}), the outer tag
 * put back from the packet metadata the receiving kernel moved it to.
 */
class ServiceTagIT extends SwitchTestBase {
    private static final String SRC = "02:00:00:2a:88:a8";
    /** Broadcast, from SRC, S-tag VID 300 (PCP 3), then EtherType 0x88b5 (local experimental) and 46 bytes. */
    private static final String FRAME = "ffffffffffff" + SRC.replace(":", "") + "88a8" + "612c" + "88b5" + "5154".repeat(23);
    /** FRAME as a trunk carries it in VLAN 10: an 802.1Q tag in front of the S-tag. */
    private static final String FRAME_IN_VLAN_10 = FRAME.substring(0, 24) + "8100000a" + FRAME.substring(24);

    @Test
    void sTaggedFrameLeavesAccessPortsUnchangedAndTheTrunkWithAnOuter8021QTag() {
        start();
        Host in = host("in", null, "--vlan", "10");
        Map<String, Host> outs = new LinkedHashMap<>();
        outs.put("access", host("a1", null, "--vlan", "10"));
        outs.put("trunk", host("tr", null, "--trunk", "10,20"));
        outs.put("access after the trunk", host("a2", null, "--vlan", "10"));

        Map<String, BackgroundProcess> captures = new LinkedHashMap<>();
        outs.forEach((role, h) -> captures.put(role, captureFrame(h, SRC)));
        sendFrame(in, FRAME);

        Map<String, String> expected = Map.of("access", FRAME, "trunk", FRAME_IN_VLAN_10, "access after the trunk", FRAME);
        captures.forEach((role, p) -> assertEquals(expected.get(role), capturedFrame(p, role), role));
    }
}
