package io.vswitch.core.frame;

import static io.vswitch.core.testing.Frames.mac;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.alloc.NativeAddress;
import io.vswitch.core.testing.Frames;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class FrameParserTest {
    private static final long A = mac("02:00:00:00:00:0a");
    private static final long B = mac("02:00:00:00:00:0b");
    private final FragAllocator allocator = new FragAllocator(NativeAddress.NONE);
    private final Frame frame = new Frame();

    @AfterEach
    void releaseFrame() {
        if (frame.attached()) {
            frame.release();
        }
    }

    private int parse(byte[] bytes) {
        if (frame.attached()) {
            frame.release();
        }
        allocator.allocate(frame, bytes.length);
        frame.write(bytes, 0, bytes.length);
        return FrameParser.parse(frame);
    }

    @Test
    void parsesUntaggedIpv4Udp() {
        assertEquals(FrameParser.OK, parse(Frames.udp4(B, A, 0xc6120001, 0xc6120002, 1000, 2000, 10)));
        assertEquals(EtherTypes.IPV4, frame.etherType());
        assertEquals(Frame.NONE, frame.vlanId());
        assertEquals(14, frame.l3Offset());
        assertEquals(34, frame.l4Offset());
        assertEquals(EtherTypes.PROTO_UDP, frame.ipProto());
        assertEquals(A, frame.srcMac());
        assertEquals(B, frame.dstMac());
    }

    @Test
    void parsesSingleAndDoubleTags() {
        byte[] udp = Frames.udp4(B, A, 1, 2, 3, 4, 0);
        assertEquals(FrameParser.OK, parse(Frames.tagged(udp, 0x8100, 10)));
        assertEquals(10, frame.vlanId());
        assertEquals(12, frame.tagOffset());
        assertEquals(18, frame.l3Offset());
        assertEquals(38, frame.l4Offset());
        assertEquals(FrameParser.OK, parse(Frames.tagged(Frames.tagged(udp, 0x88a8, 300), 0x8100, 20)));
        assertEquals(20, frame.vlanId());
        assertEquals(12, frame.tagOffset());
        assertEquals(2, frame.tagCount());
        assertEquals(22, frame.l3Offset());
        assertEquals(EtherTypes.IPV4, frame.etherType());
    }

    @Test
    void anOuterServiceTagIsPayloadButItsL3IsFound() {
        byte[] udp = Frames.udp4(B, A, 1, 2, 3, 4, 0);
        for (int tpid : new int[] {EtherTypes.QINQ, EtherTypes.QINQ_LEGACY}) {
            assertEquals(FrameParser.OK, parse(Frames.tagged(Frames.tagged(udp, 0x8100, 20), tpid, 300)));
            assertEquals(Frame.NONE, frame.vlanId(), "an 802.1Q bridge sees an S-tagged frame untagged");
            assertEquals(Frame.NONE, frame.tagOffset());
            assertEquals(2, frame.tagCount());
            assertEquals(22, frame.l3Offset());
            assertEquals(42, frame.l4Offset());
            assertEquals(EtherTypes.IPV4, frame.etherType());
        }
    }

    @Test
    void ipv4OptionsAndFragments() {
        byte[] udp = Frames.udp4(B, A, 1, 2, 3, 4, 16);
        byte[] withOptions = new byte[udp.length + 8];
        System.arraycopy(udp, 0, withOptions, 0, 34);
        System.arraycopy(udp, 34, withOptions, 42, udp.length - 34);
        withOptions[14] = 0x47;
        ByteBuffer.wrap(withOptions).putShort(16, (short) (udp.length - 14 + 8));
        assertEquals(FrameParser.OK, parse(withOptions));
        assertEquals(42, frame.l4Offset());

        byte[] later = udp.clone();
        ByteBuffer.wrap(later).putShort(20, (short) 0x0005); // offset 40 bytes, not first fragment
        assertEquals(FrameParser.OK, parse(later));
        assertTrue(frame.ipFragment());
        assertEquals(Frame.NONE, frame.l4Offset());
    }

    @Test
    void ipv6WithExtensionHeaders() {
        byte[] tcp = Frames.tcp6(B, A, 5, 6, 7, 8);
        // insert an 8-byte hop-by-hop header
        byte[] ext = new byte[tcp.length + 8];
        System.arraycopy(tcp, 0, ext, 0, 54);
        System.arraycopy(tcp, 54, ext, 62, tcp.length - 54);
        ext[20] = 0; // next header: hop-by-hop
        ext[54] = 6; // hop-by-hop's next header: TCP
        ext[55] = 0; // length: 8 bytes
        ByteBuffer.wrap(ext).putShort(18, (short) (tcp.length - 54 + 8));
        assertEquals(FrameParser.OK, parse(ext));
        assertEquals(EtherTypes.PROTO_TCP, frame.ipProto());
        assertEquals(62, frame.l4Offset());
    }

    @Test
    void malformedFramesGetAReason() {
        assertEquals(DropReason.RUNT.ordinal(), parse(new byte[13]));
        byte[] udp = Frames.udp4(B, A, 1, 2, 3, 4, 0);
        assertEquals(DropReason.TRUNCATED_VLAN.ordinal(), parse(Arrays.copyOf(Frames.tagged(udp, 0x8100, 5), 16)));
        assertEquals(DropReason.TRUNCATED_IPV4.ordinal(), parse(Arrays.copyOf(udp, 30)));
        byte[] badIhl = udp.clone();
        badIhl[14] = 0x44;
        assertEquals(DropReason.BAD_IPV4_HEADER.ordinal(), parse(badIhl));
        byte[] longIp = udp.clone();
        ByteBuffer.wrap(longIp).putShort(16, (short) 1000);
        assertEquals(DropReason.BAD_IPV4_LENGTH.ordinal(), parse(longIp));
        assertEquals(DropReason.TRUNCATED_L4.ordinal(), parse(shortIp(Arrays.copyOf(udp, 38))));
        byte[] tcp6 = Frames.tcp6(B, A, 1, 2, 3, 0);
        assertEquals(DropReason.TRUNCATED_IPV6.ordinal(), parse(Arrays.copyOf(tcp6, 40)));
        byte[] long6 = tcp6.clone();
        ByteBuffer.wrap(long6).putShort(18, (short) 500);
        assertEquals(DropReason.BAD_IPV6_LENGTH.ordinal(), parse(long6));
    }

    private static byte[] shortIp(byte[] frame) {
        ByteBuffer.wrap(frame).putShort(16, (short) (frame.length - 14));
        return frame;
    }

    @Test
    void randomBytesNeverThrowAndGiveConsistentResults() {
        SplittableRandom random = new SplittableRandom(42);
        byte[][] seeds = {
            Frames.udp4(B, A, 1, 2, 3, 4, 30), Frames.tcp6(B, A, 1, 2, 3, 30),
            Frames.tagged(Frames.udp4(B, A, 1, 2, 3, 4, 30), 0x8100, 7), Frames.arp(A)
        };
        for (int i = 0; i < 200_000; i++) {
            byte[] bytes;
            if (random.nextBoolean()) {
                bytes = new byte[random.nextInt(0, 200)];
                random.nextBytes(bytes);
            } else {
                byte[] seed = seeds[random.nextInt(seeds.length)];
                bytes = Arrays.copyOf(seed, random.nextInt(0, seed.length + 8));
                for (int flips = random.nextInt(4); flips > 0 && bytes.length > 0; flips--) {
                    bytes[random.nextInt(bytes.length)] = (byte) random.nextInt(256);
                }
            }
            int rc = parse(bytes);
            assertTrue(rc == FrameParser.OK || (rc >= 0 && rc < DropReason.count()));
            if (rc == FrameParser.OK) {
                assertTrue(frame.l3Offset() <= bytes.length);
                assertTrue(frame.l4Offset() == Frame.NONE || frame.l4Offset() <= bytes.length);
            }
        }
    }
}
