package io.vswitch.tap;

import io.vswitch.linux.Epoll;
import io.vswitch.linux.IpCommand;
import io.vswitch.linux.LibC;
import io.vswitch.linux.NativeBuffer;
import static io.vswitch.tap.KernelSandbox.ip;
import static io.vswitch.tap.KernelSandbox.ipIn;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Frames through real TAP queue fds, and what the fds do when the device is deleted under them.
 * Needs root; see {@link KernelSandbox}. Addresses are from 198.18.0.0/15 only.
 */
class TapTrafficTest {

    private static final LibC LIBC = LibC.INSTANCE;
    private static final byte[] TAP_MAC = {0x02, 0x00, 0x5e, 0x10, 0x00, 0x01};
    private static final byte[] PEER_MAC = {0x02, 0x00, 0x5e, 0x10, 0x00, 0x02};
    private static final byte[] TAP_IP = {(byte) 198, 18, 0, 1};
    private static final byte[] PEER_IP = {(byte) 198, 18, 0, 2};
    private static final int VNET = TapDevice.VNET_HEADER_SIZE;
    private static final int ETHERTYPE_ARP = 0x0806;

    // Layout of the native buffer: an iovec pair, the vnet header directly followed by the frame (so
    // both writev of the two parts and write of the whole work), and a receive area.
    private static final int IOV = 0;
    private static final int TX_FRAME = 128;
    private static final int TX_HEADER = TX_FRAME - VNET;
    private static final int RX = 2048;
    private static final int RX_SIZE = 2048;

    @RegisterExtension
    final KernelSandbox sandbox = new KernelSandbox();
    private final NativeBuffer mem = new NativeBuffer(RX + RX_SIZE);

    @AfterEach
    void freeBuffer() {
        mem.close();
    }

    /**
     * An ARP request written into queue 0 (vnet header + frame, as two iovecs) reaches the kernel's
     * stack in a namespace, which answers; the reply comes back on one of the queue fds behind a
     * vnet header.
     */
    @Test
    void arpRequestIsAnsweredThroughTheQueues() throws IOException {
        String name = sandbox.deviceName();
        String netns = sandbox.netns();
        try (TapDevice tap = TapDevice.open(name, 2); Epoll epoll = new Epoll(8)) {
            tap.setMac(TAP_MAC);
            tap.setUp(true);
            tap.moveToNetns(netns);
            assertThrows(IllegalStateException.class, () -> tap.setMtu(1400), "ioctls cannot reach it any more");
            ipIn(netns, "addr", "add", "198.18.0.1/24", "dev", name);
            String link = ipIn(netns, "-d", "link", "show", "dev", name);
            assertTrue(link.contains(",UP") && link.contains("multi_queue numqueues 2"), link);
            assertTrue(link.startsWith(tap.ifindex() + ": "), link);
            long rxBefore = rxPackets(netns, name);

            int frameLength = putArpRequest();
            mem.putLong(IOV, mem.address() + TX_HEADER);
            mem.putLong(IOV + 8, VNET);
            mem.putLong(IOV + 16, mem.address() + TX_FRAME);
            mem.putLong(IOV + 24, frameLength);
            long written = LIBC.writev(tap.fd(0), mem.address() + IOV, 2);
            assertEquals(VNET + frameLength, written, () -> "writev errno " + LibC.errno());
            assertEquals(rxBefore + 1, rxPackets(netns, name), "the kernel did not count our frame");

            epoll.add(tap.fd(0), LibC.EPOLLIN, 0);
            epoll.add(tap.fd(1), LibC.EPOLLIN, 1);
            byte[] reply = awaitArpReply(tap, epoll);
            assertNotNull(reply, "no ARP reply within 5 s");
            ByteBuffer frame = ByteBuffer.wrap(reply);
            assertEquals(0, frame.get(0), "vnet flags: an ARP reply needs no checksum offload");
            assertEquals(0, frame.get(1), "vnet gso_type: not a GSO frame");
            assertArrayEquals(PEER_MAC, slice(reply, VNET, 6), "reply goes to the requester");
            assertArrayEquals(TAP_MAC, slice(reply, VNET + 6, 6), "reply comes from the TAP's MAC");
            assertEquals(2, frame.getShort(VNET + 20), "ARP opcode: reply");
            assertArrayEquals(TAP_IP, slice(reply, VNET + 28, 4));
        }
    }

    /**
     * {@code ip link del} under open queue fds: epoll reports EPOLLERR for each, reads and writes fail
     * with EBADFD, which {@link TapDevice#isDeviceGone} recognises (and EAGAIN it does not).
     */
    @Test
    void deletedDeviceIsReportedAsGone() throws IOException {
        String name = sandbox.deviceName();
        try (TapDevice tap = TapDevice.open(name, 2); Epoll epoll = new Epoll(8)) {
            tap.setUp(true);
            for (int q = 0; q < 2; q++) {
                epoll.add(tap.fd(q), LibC.EPOLLIN, q);
            }
            drain(tap);
            assertEquals(-1, LIBC.read(tap.fd(0), mem.address() + RX, RX_SIZE));
            assertEquals(LibC.EAGAIN, LibC.errno());
            assertFalse(TapDevice.isDeviceGone(LibC.EAGAIN));

            ip("link", "del", "dev", name);

            int ready = epoll.await(1000);
            assertEquals(2, ready, "both queues should report the deletion");
            for (int i = 0; i < ready; i++) {
                assertTrue((epoll.events(i) & LibC.EPOLLERR) != 0, "events 0x" + Integer.toHexString(epoll.events(i)));
            }
            int frameLength = putArpRequest();
            for (int q = 0; q < 2; q++) {
                assertEquals(-1, LIBC.read(tap.fd(q), mem.address() + RX, RX_SIZE));
                int readErrno = LibC.errno();
                assertEquals(-1, LIBC.write(tap.fd(q), mem.address() + TX_HEADER, VNET + frameLength));
                int writeErrno = LibC.errno();
                System.out.printf("after ip link del: queue %d read errno %d, write errno %d%n",
                        q, readErrno, writeErrno);
                assertTrue(TapDevice.isDeviceGone(readErrno), "read errno " + readErrno);
                assertTrue(TapDevice.isDeviceGone(writeErrno), "write errno " + writeErrno);
                epoll.remove(tap.fd(q));
            }
            assertEquals(0, epoll.await(0), "removed fds no longer report");
        }
    }

    /** Destroying the namespace a TAP was moved into deletes the device: the same "gone" signals. */
    @Test
    void deviceInDeletedNetnsIsReportedAsGone() throws IOException {
        String name = sandbox.deviceName();
        String netns = sandbox.netns();
        try (TapDevice tap = TapDevice.open(name, 1); Epoll epoll = new Epoll(8)) {
            tap.moveToNetns(netns);
            epoll.add(tap.fd(0), LibC.EPOLLIN, 0);
            ip("netns", "del", netns);
            assertEquals(1, epoll.await(5000), "no event after the namespace was deleted");
            assertTrue((epoll.events(0) & LibC.EPOLLERR) != 0, "events 0x" + Integer.toHexString(epoll.events(0)));
            assertEquals(-1, LIBC.read(tap.fd(0), mem.address() + RX, RX_SIZE));
            assertTrue(TapDevice.isDeviceGone(LibC.errno()), "read errno " + LibC.errno());
        }
    }

    /** Waits for the ARP reply on any queue, skipping the kernel's own chatter (e.g. IPv6 router solicitations). */
    private byte[] awaitArpReply(TapDevice tap, Epoll epoll) throws IOException {
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (System.nanoTime() < deadline) {
            int ready = epoll.await(200);
            for (int i = 0; i < ready; i++) {
                int fd = tap.fd(epoll.token(i));
                long n;
                while ((n = LIBC.read(fd, mem.address() + RX, RX_SIZE)) > 0) {
                    byte[] frame = new byte[(int) n];
                    mem.get(RX, frame, 0, frame.length);
                    ByteBuffer b = ByteBuffer.wrap(frame);
                    if (n >= VNET + 42 && (b.getShort(VNET + 12) & 0xffff) == ETHERTYPE_ARP) {
                        return frame;
                    }
                }
                assertEquals(LibC.EAGAIN, LibC.errno(), "read on queue " + epoll.token(i));
            }
        }
        return null;
    }

    private void drain(TapDevice tap) {
        for (int q = 0; q < tap.queueCount(); q++) {
            while (LIBC.read(tap.fd(q), mem.address() + RX, RX_SIZE) > 0) {
                // discard what the kernel sent since the link came up
            }
        }
    }

    /**
     * Writes a zero vnet header at TX_HEADER and "who has 198.18.0.1, tell 198.18.0.2" at TX_FRAME;
     * returns the frame length.
     */
    private int putArpRequest() {
        ByteBuffer f = ByteBuffer.allocate(42);
        f.put(new byte[] {-1, -1, -1, -1, -1, -1}).put(PEER_MAC).putShort((short) ETHERTYPE_ARP);
        f.putShort((short) 1).putShort((short) 0x0800).put((byte) 6).put((byte) 4).putShort((short) 1);
        f.put(PEER_MAC).put(PEER_IP).put(new byte[6]).put(TAP_IP);
        mem.clear(TX_HEADER, VNET);
        mem.put(TX_FRAME, f.array(), 0, f.capacity());
        return f.capacity();
    }

    private static long rxPackets(String netns, String name) throws IOException {
        return Long.parseLong(IpCommand.run(null, "netns", "exec", netns,
                "cat", "/sys/class/net/" + name + "/statistics/rx_packets"));
    }

    private static byte[] slice(byte[] bytes, int offset, int length) {
        return java.util.Arrays.copyOfRange(bytes, offset, offset + length);
    }
}
