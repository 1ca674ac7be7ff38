package io.vswitch.core.vlan;

import io.vswitch.core.frame.EtherTypes;
import io.vswitch.core.frame.Frame;
import java.nio.ByteBuffer;

/**
 * Pushes and pops 802.1Q tags in place: the 12 bytes of MAC addresses move 4 bytes into the headroom
 * (push) or over the tag (pop); the payload never moves and is never copied.
 */
public final class VlanTags {
    private VlanTags() {
    }

    /** Removes the outer tag of a parsed, tagged frame. */
    public static void pop(Frame frame) {
        ByteBuffer b = frame.buffer();
        int at = frame.start();
        long macHigh = b.getLong(at);
        int macLow = b.getInt(at + 8);
        b.putLong(at + 4, macHigh);
        b.putInt(at + 12, macLow);
        frame.moveStart(EtherTypes.VLAN_TAG);
        frame.tagRemoved();
        frame.shiftOffloadOffsets(-EtherTypes.VLAN_TAG);
    }

    /** Adds an 802.1Q tag with {@code vid} (priority 0) in front of the frame's EtherType. */
    public static void push(Frame frame, int vid) {
        ByteBuffer b = frame.buffer();
        int at = frame.start();
        long macHigh = b.getLong(at);
        int macLow = b.getInt(at + 8);
        frame.moveStart(-EtherTypes.VLAN_TAG);
        int to = frame.start();
        b.putLong(to, macHigh);
        b.putInt(to + 8, macLow);
        b.putShort(to + 12, (short) EtherTypes.VLAN);
        b.putShort(to + 14, (short) (vid & 0x0fff));
        frame.tagAdded(vid);
        frame.shiftOffloadOffsets(EtherTypes.VLAN_TAG);
    }
}
