package io.vswitch.vxlan;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.sun.security.auth.module.UnixSystem;
import io.vswitch.core.frame.FrameBatch;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * Coverage-guided fuzzing (Jazzer) of VXLAN decapsulation on a real loopback socket: datagrams of any
 * length and bytes (the VXLAN flags and reserved bits, the VNI, the inner frame) from a known VTEP or
 * a stranger reach two ports sharing one socket, VNI 77 (remote 127.0.0.1 only) and VNI 78
 * ({@code --remote any}).
 *
 * <p>Each datagram must come out exactly as RFC 7348 and the kernel's {@code vxlan_rcv} say: dropped
 * under its one reason ({@code truncated}, {@code i-flag-missing}, {@code reserved-bits},
 * {@code unknown-vni}, {@code unknown-vtep}, {@code oversize}) with no other counter moving, or handed
 * to the port of its VNI as exactly the inner frame, its source MAC learned behind the sender. Every
 * receive fragment is given back.
 */
class VxlanReceiveFuzzTest {
    private static final String STRANGER = "127.0.0.3";
    private static final int STRICT_VNI = 77;
    private static final int ANY_VNI = 78;

    private static VxlanPort strict;
    private static VxlanPort any;
    private static DatagramSocket fromA;
    private static DatagramSocket fromStranger;
    private static InetSocketAddress target;
    private static final FrameBatch BATCH = new FrameBatch(FrameBatch.DEFAULT_CAPACITY);

    @BeforeAll
    static void open() throws Exception {
        assumeTrue(new UnixSystem().getUid() == 0, "skipped: a vxlan port's raw sending socket needs root");
        int dstPort = LoopbackPair.freeUdpPort();
        strict = VxlanPort.open("vx77", VxlanSettings.parse(STRICT_VNI, LoopbackPair.B, List.of(LoopbackPair.A), dstPort,
                null, null, null, null, null));
        any = VxlanPort.open("vx78", VxlanSettings.parse(ANY_VNI, LoopbackPair.B, List.of(VxlanSettings.ANY), dstPort,
                null, null, null, null, null));
        fromA = new DatagramSocket(new InetSocketAddress(InetAddress.getByName(LoopbackPair.A), 0));
        fromStranger = new DatagramSocket(new InetSocketAddress(InetAddress.getByName(STRANGER), 0));
        target = new InetSocketAddress(InetAddress.getByName(LoopbackPair.B), dstPort);
    }

    @AfterAll
    static void close() {
        if (strict != null) {
            fromA.close();
            fromStranger.close();
            any.close();
            strict.close();
        }
    }

    @FuzzTest(maxDuration = "30s")
    void everyDatagramIsDecapsulatedExactlyOrDroppedUnderItsReason(FuzzedDataProvider data) throws Exception {
        boolean stranger = data.consumeBoolean();
        int flags = data.consumeBoolean() ? VxlanHeader.FLAGS_WORD : data.consumeInt();
        int vniWord = switch (data.consumeInt(0, 3)) {
            case 0 -> data.consumeInt();
            case 1 -> ANY_VNI << 8;
            default -> STRICT_VNI << 8;
        };
        byte[] inner = data.consumeRemainingAsBytes();
        int keep = inner.length < 8 ? inner.length : -1; // a datagram shorter than its header: the first bytes only
        ByteBuffer b = ByteBuffer.allocate(8 + inner.length).putInt(flags).putInt(vniWord).put(inner);
        byte[] datagram = keep >= 0 ? Arrays.copyOf(b.array(), keep) : b.array();

        Map<VxlanDrop, Long> before = drops();
        (stranger ? fromStranger : fromA).send(new DatagramPacket(datagram, datagram.length, target));
        int got = receiveOne(total(before));

        VxlanDrop expected = expectedDrop(datagram, stranger);
        Map<VxlanDrop, Long> after = drops();
        for (VxlanDrop d : VxlanDrop.values()) {
            long delta = after.get(d) - before.get(d);
            assertEquals(d == expected ? 1 : 0, delta, d.label() + " after a datagram that should be "
                    + (expected == null ? "delivered" : expected.label()));
        }
        if (expected != null) {
            assertEquals(0, got, "a dropped datagram yields no frame");
        } else {
            assertEquals(1, got, "a valid datagram yields its frame");
            VxlanPort port = (datagram.length >= 8 && (u32(datagram, 4) >>> 8) == ANY_VNI) ? any : strict;
            assertSame(port, strict.queue(0).receiver(0), "the port of the datagram's VNI");
            byte[] frame = BATCH.get(0).toBytes();
            assertArrayEquals(Arrays.copyOfRange(datagram, 8, datagram.length), frame, "exactly the inner frame");
            long src = (long) u16(frame, 6) << 32 | u32(frame, 8) & 0xffffffffL;
            if ((src & 0x0100_0000_0000L) == 0 && src != 0) {
                assertEquals(stranger ? STRANGER : LoopbackPair.A, port.remoteOf(src), "the source MAC learned behind its VTEP");
                port.forget(src); // so that learning never meets a full table
            }
            BATCH.get(0).release();
        }
        BATCH.clear();
        assertEquals(0, strict.queue(0).allocator().liveFrames(), "every receive fragment given back");
    }

    /** The one reason RFC 7348 and the kernel's vxlan_rcv give for dropping {@code d}, or null to deliver it. */
    private static VxlanDrop expectedDrop(byte[] d, boolean stranger) {
        if (d.length - 8 > strict.receiveLimit()) {
            return VxlanDrop.OVERSIZE;
        }
        if (d.length < 8 + 14) {
            return VxlanDrop.TRUNCATED;
        }
        int flags = u32(d, 0);
        int vniWord = u32(d, 4);
        if ((flags & 0x0800_0000) == 0) {
            return VxlanDrop.I_FLAG_MISSING;
        }
        if (flags != 0x0800_0000 || (vniWord & 0xff) != 0) {
            return VxlanDrop.RESERVED_BITS;
        }
        int vni = vniWord >>> 8;
        if (vni != STRICT_VNI && vni != ANY_VNI) {
            return VxlanDrop.UNKNOWN_VNI;
        }
        return vni == STRICT_VNI && stranger ? VxlanDrop.UNKNOWN_VTEP : null;
    }

    /** Receives until the datagram is accounted for (a frame or a drop); loopback delivers it at once. */
    private static int receiveOne(long dropsBefore) {
        long deadline = System.nanoTime() + 2_000_000_000L;
        while (System.nanoTime() < deadline) {
            int n = strict.queue(0).receive(BATCH);
            if (n > 0 || total(drops()) != dropsBefore) {
                return n;
            }
        }
        throw new AssertionError("the datagram was neither received nor counted as dropped");
    }

    private static long total(Map<VxlanDrop, Long> drops) {
        long n = 0;
        for (long v : drops.values()) {
            n += v;
        }
        return n;
    }

    /** Drops by reason, summed over both ports (socket-level drops are shown on each: counted once). */
    private static Map<VxlanDrop, Long> drops() {
        Map<VxlanDrop, Long> out = new EnumMap<>(VxlanDrop.class);
        for (VxlanDrop d : VxlanDrop.values()) {
            out.put(d, d.perSocket() ? strict.drops(d) : strict.drops(d) + any.drops(d));
        }
        return out;
    }

    private static int u16(byte[] b, int at) {
        return (b[at] & 0xff) << 8 | b[at + 1] & 0xff;
    }

    private static int u32(byte[] b, int at) {
        return u16(b, at) << 16 | u16(b, at + 2);
    }
}
