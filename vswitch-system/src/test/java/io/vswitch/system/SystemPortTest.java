package io.vswitch.system;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.port.FrameSink;
import io.vswitch.linux.Allocations;
import io.vswitch.linux.DirectAddress;
import io.vswitch.linux.IpCommand;
import io.vswitch.linux.LibC;
import io.vswitch.linux.NativeBuffer;
import java.io.IOException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A system port on one end of a real veth pair, with a raw packet socket on the other end standing in
 * for the wire. Needs root (skipped otherwise; the integration tests are where it is required).
 */
class SystemPortTest {
    private static final LibC LIBC = LibC.INSTANCE;
    private static final int FRAMES = 20_000;
    private static final int VID = 10;

    private VethPair veth;
    private String portSide;
    private String wireSide;

    @BeforeEach
    void veth() throws IOException {
        veth = VethPair.create(1500);
        portSide = veth.portSide;
        wireSide = veth.wireSide;
    }

    @AfterEach
    void removeVeth() {
        if (veth != null) {
            veth.close();
        }
    }

    /** A frame 02:..:01 <- 02:..:02 tagged VID 10, EtherType 0x88b5 (local experimental), payload i. */
    static byte[] taggedFrame(int payload) {
        byte[] f = new byte[18 + payload];
        byte[] macs = {2, 0, 0x5e, 0x20, 0, 1, 2, 0, 0x5e, 0x20, 0, 2};
        System.arraycopy(macs, 0, f, 0, 12);
        f[12] = (byte) 0x81;
        f[14] = 0;
        f[15] = VID;
        f[16] = (byte) 0x88;
        f[17] = (byte) 0xb5;
        for (int i = 18; i < f.length; i++) {
            f[i] = (byte) i;
        }
        return f;
    }

    private int wireSocket() throws IOException {
        return veth.wireSocket();
    }

    static int receiveSome(SystemQueue q, FrameBatch batch) {
        long deadline = System.nanoTime() + 5_000_000_000L;
        int n;
        while ((n = q.receive(batch)) == 0) {
            assertTrue(System.nanoTime() < deadline, "nothing received");
            Thread.onSpinWait();
        }
        return n;
    }

    @Test
    void receivedFramesKeepTheirVlanTagAndBytes() throws IOException {
        try (SystemPort port = SystemPort.open(portSide, 1); NativeBuffer out = new NativeBuffer(2048)) {
            int wire = wireSocket();
            try {
                byte[] sent = taggedFrame(100);
                out.put(0, sent, 0, sent.length);
                assertEquals(sent.length, LIBC.write(wire, out.address(), sent.length));
                FrameBatch batch = new FrameBatch(4);
                assertEquals(1, receiveSome(port.queue(0), batch));
                Frame got = batch.get(0);
                assertArrayEquals(sent, got.toBytes(), "the kernel moved the tag out; the port puts it back");
                assertFalse(got.isGso());
                got.release();
            } finally {
                LIBC.close(wire);
            }
        }
    }

    @Test
    void linkStateFollowsTheInterfaceAndItsDeletion() throws Exception {
        try (SystemPort port = SystemPort.open(portSide, 1)) {
            // The veth was set up just before: the kernel's linkwatch reports its carrier a little later.
            awaitLink(port, true);
            assertEquals(1500 + 18, port.maxFrameLength());
            IpCommand.run(null, "link", "set", "dev", wireSide, "down");
            awaitLink(port, false);
            assertFalse(port.gone(), "no carrier is down, not gone");
            IpCommand.run(null, "link", "set", "dev", wireSide, "up");
            awaitLink(port, true);
            IpCommand.run(null, "link", "del", "dev", portSide);
            awaitLink(port, false);
            assertTrue(port.gone());
            assertEquals(-1, port.queue(0).receive(new FrameBatch(4)), "a queue of a deleted interface ends its thread");
        }
    }

    private static void awaitLink(SystemPort port, boolean up) throws InterruptedException {
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (port.linkUp() != up) {
            assertTrue(System.nanoTime() < deadline, "link never became " + (up ? "up" : "down"));
            Thread.sleep(20);
        }
    }

    @Test
    void missingInterfaceIsNamedWithTheFix() {
        IOException e = assertThrows(IOException.class, () -> SystemPort.open("vssnone0", 1));
        assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
    }

    @Test
    void receiveAndTransmitDoNotAllocate() throws Exception {
        try (SystemPort port = SystemPort.open(portSide, 1)) {
            SystemQueue q = port.queue(0);
            int wire = wireSocket();
            try {
                long allocated = FloodAllocations.whileReceiving(q, wire, taggedFrame(600), FRAMES);
                assertTrue(allocated < FRAMES / 10, "receive allocated " + allocated + " bytes for " + FRAMES + " frames");
            } finally {
                LIBC.close(wire);
            }

            FragAllocator allocator = new FragAllocator(DirectAddress.INSTANCE);
            Frame frame = new Frame();
            assertTrue(allocator.allocate(frame, 1000));
            frame.write(taggedFrame(1000 - 18), 0, 1000);
            long[] sent = new long[1];
            Runnable transmit = () -> {
                if (q.transmit(frame) == FrameSink.SENT) {
                    sent[0]++;
                }
            };
            long txAllocated = Allocations.bytesForFrames(transmit, FRAMES, sent);
            frame.release();
            assertTrue(txAllocated < FRAMES / 10, "transmit allocated " + txAllocated + " bytes for " + FRAMES + " frames");
        }
    }
}
