package io.vswitch.core.flow;

import io.vswitch.core.frame.EtherTypes;
import io.vswitch.core.frame.Frame;

/**
 * Symmetric flow hash: both directions of a connection hash alike, so the queue a flow was received
 * on can be found again from its replies (the role of {@code skb_get_hash_symmetric} in the kernel's
 * flow dissector). Endpoints (address, port) are put in a fixed order before mixing. IP fragments
 * hash on addresses and protocol only, so every fragment of a datagram lands with the first one;
 * non-IP frames hash on their MAC addresses and EtherType.
 */
public final class FlowHash {
    private FlowHash() {
    }

    /** Hashes a parsed frame (see {@link io.vswitch.core.frame.FrameParser}). */
    public static int of(Frame frame) {
        int type = frame.etherType();
        int l3 = frame.l3Offset();
        if (type == EtherTypes.IPV4 && l3 != Frame.NONE && frame.ipProto() != Frame.NONE) {
            return endpoints(frame.i32(l3 + 12), frame.i32(l3 + 16), frame, type);
        }
        if (type == EtherTypes.IPV6 && l3 != Frame.NONE && frame.ipProto() != Frame.NONE) {
            int src = fold(frame.i32(l3 + 8), frame.i32(l3 + 12), frame.i32(l3 + 16), frame.i32(l3 + 20));
            int dst = fold(frame.i32(l3 + 24), frame.i32(l3 + 28), frame.i32(l3 + 32), frame.i32(l3 + 36));
            return endpoints(src, dst, frame, type);
        }
        long a = frame.srcMac();
        long b = frame.dstMac();
        long lo = Math.min(a, b);
        long hi = Math.max(a, b);
        return mix(mix((int) lo ^ (int) (lo >>> 32) * 0x9e3779b1, (int) hi ^ (int) (hi >>> 32) * 0x85ebca6b) ^ type);
    }

    private static int endpoints(int srcAddr, int dstAddr, Frame frame, int type) {
        int proto = frame.ipProto();
        int srcPort = 0;
        int dstPort = 0;
        int l4 = frame.l4Offset();
        if (!frame.ipFragment() && l4 != Frame.NONE
                && (proto == EtherTypes.PROTO_TCP || proto == EtherTypes.PROTO_UDP)) {
            srcPort = frame.u16(l4);
            dstPort = frame.u16(l4 + 2);
        }
        return ordered(srcAddr, srcPort, dstAddr, dstPort, proto ^ (type << 8));
    }

    /** Mixes two endpoints independently of their order. Public for tests and ports that hash raw tuples. */
    public static int ordered(int addrA, int portA, int addrB, int portB, int salt) {
        long a = ((addrA & 0xffffffffL) << 16) | portA;
        long b = ((addrB & 0xffffffffL) << 16) | portB;
        long lo = Math.min(a, b);
        long hi = Math.max(a, b);
        int h = mix((int) lo * 0xcc9e2d51 ^ (int) (lo >>> 32));
        h = mix(h ^ ((int) hi * 0x1b873593) ^ (int) (hi >>> 32) * 0x85ebca6b);
        return mix(h ^ salt);
    }

    private static int fold(int w0, int w1, int w2, int w3) {
        return mix(w0 * 0x9e3779b1 ^ Integer.rotateLeft(w1, 7) ^ Integer.rotateLeft(w2, 15) * 0x85ebca6b ^ Integer.rotateLeft(w3, 23));
    }

    private static int mix(int h) {
        h ^= h >>> 16;
        h *= 0x85ebca6b;
        h ^= h >>> 13;
        h *= 0xc2b2ae35;
        h ^= h >>> 16;
        return h;
    }

    private static int mix(int a, int b) {
        return mix(a * 31 + b);
    }
}
