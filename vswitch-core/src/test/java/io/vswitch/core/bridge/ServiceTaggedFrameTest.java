package io.vswitch.core.bridge;

import static io.vswitch.core.testing.Frames.mac;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.vswitch.core.alloc.NativeAddress;
import io.vswitch.core.frame.EtherTypes;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.gso.Segmenter;
import io.vswitch.core.testing.Frames;
import io.vswitch.core.testing.MemoryPort;
import io.vswitch.core.vlan.VlanMembership;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Frames whose outer tag is an 802.1ad S-tag (TPID 0x88a8) or the pre-standard 0x9100: the switch is
 * an 802.1Q bridge (the Linux bridge with {@code vlan_protocol 802.1Q}), so such a tag is payload. The
 * frame is untagged for VLAN classification, leaves byte for byte as it came wherever the switch adds
 * or removes no tag, and an 802.1Q tag the switch adds goes in front of the S-tag.
 */
class ServiceTaggedFrameTest {
    private static final long BROADCAST = 0xffff_ffff_ffffL;
    private static final long A = mac("02:00:00:00:00:0a");
    private static final int S_VID = 300;

    private final Bridge bridge = new Bridge();
    private final Forwarder forwarder = new Forwarder(bridge, new Segmenter(NativeAddress.NONE));
    private final FrameBatch batch = new FrameBatch(16);

    private BridgePort port(String name, VlanMembership vlans) {
        return bridge.attach(new MemoryPort(name, 1), vlans);
    }

    private void receive(BridgePort p, byte[] frame) {
        MemoryPort port = (MemoryPort) p.port();
        port.queue(0).inject(frame);
        port.queue(0).receive(batch);
        new Ingress(bridge, p, 0, forwarder).process(batch, 0);
    }

    /** The one frame {@code p} sent since the last call. */
    private static byte[] sent(BridgePort p) {
        List<MemoryPort.Sent> sent = ((MemoryPort) p.port()).drain();
        assertEquals(1, sent.size(), p.port().name() + " sends the flooded frame once");
        return sent.get(0).bytes();
    }

    private static void nothingSent(BridgePort p) {
        assertEquals(0, ((MemoryPort) p.port()).drain().size(), p.port().name() + " must not get the frame");
    }

    private static byte[] serviceTagged(int tpid) {
        return Frames.tagged(Frames.udp4(BROADCAST, A, 0xc6122a01, 0xc6122a02, 1000, 2000, 32), tpid, S_VID);
    }

    @ParameterizedTest(name = "TPID 0x{0}")
    @ValueSource(strings = {"88a8", "9100"})
    void sTaggedFrameOnAnAccessPortIsFloodedUnchangedToAccessAndTaggedOutsideOnTrunk(String tpidHex) {
        BridgePort in = port("in", VlanMembership.access(10));
        BridgePort acc1 = port("acc1", VlanMembership.access(10));
        BridgePort trunk = port("trunk", VlanMembership.trunk(List.of(10, 20), 0));
        BridgePort acc2 = port("acc2", VlanMembership.access(10));
        byte[] frame = serviceTagged(Integer.parseInt(tpidHex, 16));
        receive(in, frame);
        assertArrayEquals(frame, sent(acc1), "access port: no tag added or removed");
        assertArrayEquals(Frames.tagged(frame, EtherTypes.VLAN, 10), sent(trunk),
                "trunk: 802.1Q VLAN 10 added in front of the S-tag");
        assertArrayEquals(frame, sent(acc2), "access port after the trunk");
    }

    @Test
    void sTaggedFrameOnADefaultPortIsUntaggedTrafficNotTheSVlan() {
        // The fuzzer's report: the S-VID was taken for the bridge VLAN, the access port of that VLAN
        // popped the S-tag and the trunk after it pushed it back as 0x8100.
        BridgePort in = port("in", VlanMembership.DEFAULT);
        BridgePort accessOfSVid = port("access-300", VlanMembership.access(S_VID));
        BridgePort trunk = port("trunk", VlanMembership.DEFAULT);
        BridgePort accessOfSVid2 = port("access-300b", VlanMembership.access(S_VID));
        byte[] frame = serviceTagged(EtherTypes.QINQ);
        receive(in, frame);
        nothingSent(accessOfSVid);
        nothingSent(accessOfSVid2);
        assertArrayEquals(frame, sent(trunk), "the untagged domain's trunk gets the frame as it came");
    }

    @Test
    void cTagInFrontOfAnSTagIsTheBridgeVlanAndOnlyItIsPopped() {
        BridgePort in = port("in", VlanMembership.trunk(List.of(10, 20), 0));
        BridgePort acc = port("acc", VlanMembership.access(10));
        BridgePort trunk = port("trunk", VlanMembership.trunk(List.of(10), 0));
        BridgePort native10 = port("native10", VlanMembership.trunk(List.of(20), 10));
        byte[] inner = serviceTagged(EtherTypes.QINQ);
        byte[] frame = Frames.tagged(inner, EtherTypes.VLAN, 10);
        receive(in, frame);
        assertArrayEquals(inner, sent(acc), "only the 802.1Q tag is removed");
        assertArrayEquals(frame, sent(trunk), "trunk of VLAN 10: unchanged");
        assertArrayEquals(inner, sent(native10), "native VLAN 10: only the 802.1Q tag is removed");
    }

    @Test
    void sTaggedFrameOnANativeVlanTrunkBelongsToTheNativeVlan() {
        BridgePort in = port("in", VlanMembership.trunk(List.of(20), 10));
        BridgePort acc = port("acc", VlanMembership.access(10));
        BridgePort trunk = port("trunk", VlanMembership.trunk(List.of(10), 0));
        BridgePort acc20 = port("acc20", VlanMembership.access(20));
        byte[] frame = serviceTagged(EtherTypes.QINQ);
        receive(in, frame);
        assertArrayEquals(frame, sent(acc));
        assertArrayEquals(Frames.tagged(frame, EtherTypes.VLAN, 10), sent(trunk));
        nothingSent(acc20);
    }
}
