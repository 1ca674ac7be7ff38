package io.vswitch.core.bridge;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.alloc.NativeAddress;
import io.vswitch.core.frame.DropReason;
import io.vswitch.core.frame.EtherTypes;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.frame.FrameParser;
import io.vswitch.core.frame.VnetHeader;
import io.vswitch.core.gso.Segmenter;
import io.vswitch.core.port.BatchSink;
import io.vswitch.core.port.FrameSink;
import io.vswitch.core.port.Offloads;
import io.vswitch.core.port.Port;
import io.vswitch.core.port.PortCounters;
import io.vswitch.core.port.PortQueue;
import io.vswitch.core.testing.MemoryPort;
import io.vswitch.core.vlan.VlanMembership;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * Coverage-guided fuzzing (Jazzer) of what a guest or TAP sends into the bridge: a frame of any bytes
 * behind a virtio-net header of any values (flags, GSO type, csum_start/csum_offset, gso_size), through
 * {@link Frame#loadVnetHeader}, {@link FrameParser}, the ingress checks, VLAN tag handling and, for
 * ports without offloads, the {@link Segmenter}.
 *
 * <p>Each input must be either dropped under one counted reason (never {@code internal-error}) or
 * forwarded correctly. The port without offloads ({@code vm}) is checked byte for byte: a plain frame
 * leaves as it came (its tag popped if it was a priority tag), a NEEDS_CSUM frame leaves with a
 * checksum that verifies over csum_start.., and a super-frame leaves as segments that fit the port,
 * each with valid IP and TCP/UDP checksums, whose payloads put together are the super-frame's. The
 * fragment the frame arrived in is surrounded by a canary in its chunk (frames live in shared native
 * memory, where the buffer's own bounds do not protect the neighbours), and every fragment is given
 * back. A second port without offloads takes jumbo frames and its segments in batches (a
 * {@link BatchSink}, as VXLAN ports do), and is checked the same way.
 */
class HostileFrameFuzzTest {
    private static final byte[] CANARY_BYTES = new byte[FragAllocator.MAX_LARGE_FRAME + FragAllocator.HEADROOM + 64];

    static {
        Arrays.fill(CANARY_BYTES, (byte) 0xa5);
    }

    private static final int VM_MAX = 1518;
    private static final Set<DropReason> INGRESS_REASONS = Set.of(DropReason.RUNT, DropReason.TRUNCATED_VLAN,
            DropReason.TRUNCATED_IPV4, DropReason.BAD_IPV4_HEADER, DropReason.BAD_IPV4_LENGTH, DropReason.TRUNCATED_IPV6,
            DropReason.BAD_IPV6_LENGTH, DropReason.TRUNCATED_L4, DropReason.MULTICAST_SOURCE, DropReason.ZERO_SOURCE,
            DropReason.VLAN_NOT_ALLOWED, DropReason.SAME_PORT, DropReason.NO_OUTPUT, DropReason.DESTINATION_UNAVAILABLE);

    private static final Bridge BRIDGE = new Bridge();
    private static final Forwarder FORWARDER = new Forwarder(BRIDGE, new Segmenter(NativeAddress.NONE));
    private static final BridgePort GUEST = BRIDGE.attach(new MemoryPort("guest", 1), VlanMembership.DEFAULT);
    private static final BridgePort TAP = BRIDGE.attach(new MemoryPort("tap", 1, Offloads.CSUM | Offloads.TSO4 | Offloads.TSO6
            | Offloads.TSO_ECN | Offloads.USO4 | Offloads.USO6, true), VlanMembership.DEFAULT);
    private static final BridgePort VM = BRIDGE.attach(new MemoryPort("vm", 1), VlanMembership.DEFAULT);
    /**
     * Like a VXLAN port: no offloads, jumbo frames, segments handed over in batches (a BatchSink).
     * Attached before the ports that push or pop tags, so it floods the frame with its tags as it came.
     */
    private static final BatchPort TUNNEL_PORT = new BatchPort();
    private static final BridgePort TUNNEL = BRIDGE.attach(TUNNEL_PORT, VlanMembership.DEFAULT);
    private static final BridgePort ACCESS = BRIDGE.attach(new MemoryPort("access10", 1), VlanMembership.access(10));
    private static final BridgePort TRUNK = BRIDGE.attach(new MemoryPort("trunk", 1),
            VlanMembership.trunk(List.of(10, 20), 20));
    private static final BridgePort[] OUTPUTS = {TAP, VM, TUNNEL, ACCESS, TRUNK};
    private static final Ingress INGRESS = new Ingress(BRIDGE, GUEST, 0, FORWARDER);
    private static final FragAllocator ALLOCATOR = new FragAllocator(NativeAddress.NONE);
    private static final int[] GSO_TYPES = {VnetHeader.GSO_NONE, VnetHeader.GSO_TCPV4, VnetHeader.GSO_TCPV6,
        VnetHeader.GSO_UDP_L4, VnetHeader.GSO_UDP, VnetHeader.GSO_TCPV4 | VnetHeader.GSO_ECN};

    private long now;

    @FuzzTest(maxDuration = "30s")
    void hostileFramesAreForwardedIntactOrDroppedUnderTheirReason(FuzzedDataProvider data) {
        int flags = data.consumeInt(0, 3);
        int gsoType = data.consumeBoolean() ? GSO_TYPES[data.consumeInt(0, GSO_TYPES.length - 1)] : data.consumeInt(0, 255);
        int hdrLen = data.consumeInt(0, 0xffff);
        int gsoSize = data.consumeBoolean() ? data.consumeInt(0, 3000) : data.consumeInt(0, 0xffff);
        int csumStart = data.consumeBoolean() ? data.consumeInt(0, 80) : data.consumeInt(0, 0xffff);
        int csumOffset = data.consumeBoolean() ? (data.consumeBoolean() ? 16 : 6) : data.consumeInt(0, 0xffff);
        byte[] bytes = data.consumeRemainingAsBytes();
        if (bytes.length > FragAllocator.MAX_LARGE_FRAME) {
            bytes = Arrays.copyOf(bytes, FragAllocator.MAX_LARGE_FRAME);
        }

        Frame frame = new Frame();
        assertTrue(ALLOCATOR.allocate(frame, bytes.length));
        ByteBuffer chunk = frame.buffer();
        fillOutside(chunk, frame.fragmentStart(), frame.limit());
        chunk.put(frame.start(), bytes);
        int vnet = frame.start() - VnetHeader.SIZE;
        chunk.put(vnet, (byte) flags).put(vnet + 1, (byte) gsoType);
        chunk.putShort(vnet + 2, Short.reverseBytes((short) hdrLen)).putShort(vnet + 4, Short.reverseBytes((short) gsoSize));
        chunk.putShort(vnet + 6, Short.reverseBytes((short) csumStart)).putShort(vnet + 8, Short.reverseBytes((short) csumOffset));
        frame.loadVnetHeader();
        int fragmentStart = frame.fragmentStart();
        int limit = frame.limit();

        long[] before = snapshot();
        long[] guestDrops = dropsByReason(GUEST);
        drain();
        INGRESS.process(frame, ++now);

        assertNull(INGRESS.takeFailure(), "no exception while handling the frame");
        assertFalse(frame.attached(), "the frame was released");
        assertEquals(0, ALLOCATOR.liveFrames(), "every fragment given back");
        assertOutsideUnchanged(chunk, fragmentStart, limit);
        long[] after = snapshot();
        for (BridgePort p : BRIDGE.ports()) {
            assertEquals(0, p.counters().drops(DropReason.INTERNAL_ERROR), p.port().name() + ": internal-error");
        }
        long ingressDrops = after[0] - before[0];
        long egressEvents = 0;
        for (int i = 1; i < after.length; i++) {
            egressEvents += after[i] - before[i];
        }
        assertTrue(ingressDrops == 1 && egressEvents == 0 || ingressDrops == 0 && egressEvents >= 1,
                "a frame is dropped once at ingress or reaches at least one output: ingress drops " + ingressDrops
                        + ", egress events " + egressEvents);
        if (ingressDrops == 1) {
            long[] counted = dropsByReason(GUEST);
            for (DropReason r : DropReason.values()) {
                long delta = counted[r.ordinal()] - guestDrops[r.ordinal()];
                assertEquals(delta == 1, INGRESS_REASONS.contains(r) && delta == 1, "dropped at ingress as " + r.label());
            }
            drain();
            return;
        }
        checkWithoutOffloads(bytes, flags, gsoType, gsoSize, csumStart, csumOffset, ((MemoryPort) VM.port()).drain(),
                after[2] - before[2] > 0, VM_MAX);
        checkWithoutOffloads(bytes, flags, gsoType, gsoSize, csumStart, csumOffset, TUNNEL_PORT.drain(),
                after[3] - before[3] > 0, BatchPort.MAX_FRAME);
        for (BridgePort p : new BridgePort[] {ACCESS, TRUNK}) {
            for (MemoryPort.Sent s : ((MemoryPort) p.port()).drain()) {
                assertEquals(VnetHeader.GSO_NONE, s.gsoType(), p.port().name() + " takes no super-frames");
                assertEquals(0, s.vnetFlags() & VnetHeader.FLAG_NEEDS_CSUM, p.port().name() + " takes no partial checksums");
                assertTrue(s.bytes().length <= VM_MAX, p.port().name() + " takes at most " + VM_MAX + " bytes");
            }
        }
        ((MemoryPort) TAP.port()).drain();
    }

    /**
     * A port without offloads that carries every VLAN as it came: what left it must be the input,
     * correctly checksummed or segmented to fit {@code max}.
     */
    private static void checkWithoutOffloads(byte[] input, int flags, int gsoType, int gsoSize, int csumStart, int csumOffset,
            List<MemoryPort.Sent> sent, boolean targeted, int max) {
        if (!targeted) {
            assertEquals(0, sent.size());
            return;
        }
        // Every VLAN leaves as it came, except that an 802.1Q priority tag (VID 0) is the untagged
        // domain; an 802.1ad S-tag is payload, whatever its VID.
        byte[] expected = input;
        int shift = 0;
        if (input.length >= 18 && u16(input, 12) == EtherTypes.VLAN && (u16(input, 14) & 0xfff) == 0) {
            expected = new byte[input.length - 4];
            System.arraycopy(input, 0, expected, 0, 12);
            System.arraycopy(input, 16, expected, 12, input.length - 16);
            shift = -4;
        }
        boolean gso = gsoType != VnetHeader.GSO_NONE; // the ECN bit alone too: a header no port takes
        for (MemoryPort.Sent s : sent) {
            assertEquals(VnetHeader.GSO_NONE, s.gsoType(), "no super-frames without offloads");
            assertEquals(0, s.vnetFlags() & VnetHeader.FLAG_NEEDS_CSUM, "no partial checksums without offloads");
            assertTrue(s.bytes().length <= max, "at most " + max + " bytes, got " + s.bytes().length);
        }
        if (gso) {
            if (!sent.isEmpty()) {
                checkSegments(expected, gsoSize, sent);
            }
            return;
        }
        if (expected.length > max) {
            assertEquals(0, sent.size(), "too long for the port");
            return;
        }
        if ((flags & VnetHeader.FLAG_NEEDS_CSUM) == 0) {
            assertEquals(1, sent.size(), "a plain frame is forwarded");
            assertArrayEquals(expected, sent.get(0).bytes());
            return;
        }
        int start = csumStart + shift;
        int field = start + csumOffset;
        if (start < 0 || start >= expected.length || field + 2 > expected.length) {
            assertEquals(0, sent.size(), "a checksum outside the frame (csum_start " + start + ", field at " + field
                    + ", length " + expected.length + ") cannot be completed: dropped");
            return;
        }
        assertEquals(1, sent.size(), "a partial checksum inside the frame is completed and forwarded");
        byte[] out = sent.get(0).bytes();
        assertEquals(expected.length, out.length);
        int partial = u16(expected, field);
        for (int i = 0; i < out.length; i++) {
            if (i != field && i != field + 1) {
                assertEquals(expected[i], out[i], "byte " + i + " changed by the checksum completion");
            }
        }
        if (csumOffset % 2 == 0) { // at an odd offset the sum is stored across two words: valid for no one, as in the kernel
            assertEquals(0xffff, fold(sum(out, start, out.length - start) + partial), "completed checksum verifies");
        }
    }

    /** Segments of a super-frame: each a valid packet, together carrying its payload. */
    private static void checkSegments(byte[] superFrame, int gsoSize, List<MemoryPort.Sent> sent) {
        Frame parsed = new Frame();
        assertTrue(ALLOCATOR.allocate(parsed, superFrame.length));
        try {
            parsed.buffer().put(parsed.start(), superFrame);
            parsed.setOffload(0, VnetHeader.GSO_TCPV4, 0, gsoSize, 0, 0); // parse as a super-frame (IPv6 length 0)
            assertEquals(FrameParser.OK, FrameParser.parse(parsed), "a segmented super-frame had valid headers");
            int l3 = parsed.l3Offset();
            int l4 = parsed.l4Offset();
            boolean tcp = parsed.ipProto() == EtherTypes.PROTO_TCP;
            boolean v4 = parsed.etherType() == EtherTypes.IPV4;
            int headers = tcp ? l4 + (parsed.u8(l4 + 12) >>> 4) * 4 : l4 + 8;
            ByteArrayOutputStream payload = new ByteArrayOutputStream();
            for (MemoryPort.Sent s : sent) {
                byte[] seg = s.bytes();
                assertTrue(seg.length > headers, "a segment carries payload");
                payload.write(seg, headers, seg.length - headers);
                int l4Length = seg.length - l4;
                long pseudo;
                if (v4) {
                    assertEquals(seg.length - l3, u16(seg, l3 + 2), "IPv4 total length");
                    assertEquals(0xffff, fold(sum(seg, l3, l4 - l3)), "IPv4 header checksum");
                    pseudo = sum(seg, l3 + 12, 8);
                } else {
                    assertEquals(seg.length - l3 - 40, u16(seg, l3 + 4), "IPv6 payload length");
                    pseudo = sum(seg, l3 + 8, 32);
                }
                pseudo += (tcp ? EtherTypes.PROTO_TCP : EtherTypes.PROTO_UDP) + l4Length;
                assertEquals(0xffff, fold(sum(seg, l4, l4Length) + pseudo), (tcp ? "TCP" : "UDP") + " checksum");
                if (!tcp) {
                    assertEquals(l4Length, u16(seg, l4 + 4), "UDP length");
                }
            }
            byte[] expected = Arrays.copyOfRange(superFrame, headers, superFrame.length);
            assertArrayEquals(expected, payload.toByteArray(), "the segments' payloads are the super-frame's");
        } finally {
            parsed.release();
        }
    }

    private static int u16(byte[] b, int at) {
        return (b[at] & 0xff) << 8 | b[at + 1] & 0xff;
    }

    /** Sum of the 16-bit big-endian words (an odd last byte padded with zero), unfolded. */
    private static long sum(byte[] b, int from, int length) {
        long s = 0;
        for (int i = 0; i < length; i += 2) {
            int hi = b[from + i] & 0xff;
            int lo = i + 1 < length ? b[from + i + 1] & 0xff : 0;
            s += hi << 8 | lo;
        }
        return s;
    }

    private static int fold(long s) {
        while (s >>> 16 != 0) {
            s = (s & 0xffff) + (s >>> 16);
        }
        return (int) s;
    }

    private static long[] dropsByReason(BridgePort port) {
        long[] out = new long[DropReason.count()];
        for (DropReason r : DropReason.values()) {
            out[r.ordinal()] = port.counters().drops(r);
        }
        return out;
    }

    /** Per port: drops + transmits, the guest's drops first. */
    private static long[] snapshot() {
        long[] out = new long[1 + OUTPUTS.length];
        out[0] = GUEST.counters().queue(0).dropsTotal();
        for (int i = 0; i < OUTPUTS.length; i++) {
            PortCounters c = OUTPUTS[i].counters();
            out[i + 1] = c.queue(0).dropsTotal() + c.txPackets();
        }
        return out;
    }

    private static void drain() {
        for (BridgePort p : new BridgePort[] {GUEST, TAP, VM, ACCESS, TRUNK}) {
            ((MemoryPort) p.port()).drain();
        }
        TUNNEL_PORT.drain();
    }

    private static void fillOutside(ByteBuffer chunk, int from, int to) {
        chunk.put(0, CANARY_BYTES, 0, from);
        chunk.put(to, CANARY_BYTES, 0, chunk.capacity() - to);
    }

    private static void assertOutsideUnchanged(ByteBuffer chunk, int from, int to) {
        byte[] below = new byte[from];
        byte[] above = new byte[chunk.capacity() - to];
        chunk.get(0, below);
        chunk.get(to, above);
        int low = Arrays.mismatch(below, 0, from, CANARY_BYTES, 0, from);
        int high = Arrays.mismatch(above, 0, above.length, CANARY_BYTES, 0, above.length);
        if (low >= 0 || high >= 0) {
            throw new AssertionError("byte " + (low >= 0 ? low : to + high) + " of the chunk, outside the frame's fragment ["
                    + from + ", " + to + "), was written");
        }
    }

    /** A no-offload port whose queue takes segments in batches, as a tunnel's sendmmsg does; keeps copies. */
    private static final class BatchPort implements Port {
        static final int MAX_FRAME = 9000;
        private final List<MemoryPort.Sent> sent = new ArrayList<>();
        private final Queue queue = new Queue();

        List<MemoryPort.Sent> drain() {
            List<MemoryPort.Sent> out = new ArrayList<>(sent);
            sent.clear();
            return out;
        }

        @Override
        public String name() {
            return "tunnel";
        }

        @Override
        public String kind() {
            return "batch";
        }

        @Override
        public int queueCount() {
            return 1;
        }

        @Override
        public PortQueue queue(int index) {
            return queue;
        }

        @Override
        public int offloads() {
            return Offloads.NONE;
        }

        @Override
        public int maxFrameLength() {
            return MAX_FRAME;
        }

        @Override
        public boolean linkUp() {
            return true;
        }

        @Override
        public void close() {
        }

        private final class Queue implements PortQueue, BatchSink {
            private final FragAllocator allocator = new FragAllocator(NativeAddress.NONE);

            @Override
            public int index() {
                return 0;
            }

            @Override
            public int receive(FrameBatch batch) {
                return 0;
            }

            @Override
            public FragAllocator allocator() {
                return allocator;
            }

            @Override
            public int batchCapacity() {
                return 16;
            }

            @Override
            public void transmit(Frame[] frames, int count, int[] results) {
                for (int i = 0; i < count; i++) {
                    results[i] = transmit(frames[i]);
                }
            }

            @Override
            public int transmit(Frame frame) {
                assertTrue(frame.attached(), "a frame handed to the sink is live");
                sent.add(new MemoryPort.Sent(0, frame.toBytes(), frame.gsoType(), frame.vnetFlags()));
                return FrameSink.SENT;
            }
        }
    }
}
