package io.vswitch.system;

import io.vswitch.core.frame.Frame;
import java.nio.ByteBuffer;

/**
 * Puts back the 802.1Q tag the kernel took out of a received frame. The kernel strips a tag into
 * {@code skb->vlan_tci} before packet sockets see the frame (skb_vlan_untag in
 * __netif_receive_skb_core) and reports it beside the frame, in the ring slot's {@code tpacket2_hdr}
 * or in the PACKET_AUXDATA control message of recvmsg, with the same status bits in both; trunks need
 * it back in the frame, as on every other port.
 */
final class ReceivedVlanTag {
    static final int TP_STATUS_VLAN_VALID = 1 << 4;
    static final int TP_STATUS_VLAN_TPID_VALID = 1 << 6;
    private static final int TPID_8021Q = 0x8100;
    private static final int VLAN_TAG = 4;
    private static final int MAC_HEADER_PAIR = 12;

    private ReceivedVlanTag() {
    }

    /**
     * Inserts the tag {@code tci}/{@code tpid} after the MAC addresses of {@code frame} (into its
     * headroom) if {@code status} says there was one; the frame's offload offsets follow.
     */
    static void restore(Frame frame, int status, int tci, int tpid) {
        if ((status & TP_STATUS_VLAN_VALID) == 0 || frame.length() < MAC_HEADER_PAIR) {
            return;
        }
        int type = (status & TP_STATUS_VLAN_TPID_VALID) != 0 ? tpid : TPID_8021Q;
        frame.moveStart(-VLAN_TAG);
        ByteBuffer b = frame.buffer();
        int at = frame.start();
        long macs = b.getLong(at + VLAN_TAG);
        int macsTail = b.getInt(at + VLAN_TAG + 8);
        b.putLong(at, macs);
        b.putInt(at + 8, macsTail);
        b.putShort(at + MAC_HEADER_PAIR, (short) type);
        b.putShort(at + MAC_HEADER_PAIR + 2, (short) tci);
        frame.shiftOffloadOffsets(VLAN_TAG);
    }
}
