package io.vswitch.vxlan;

import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameBatch;
import io.vswitch.core.frame.FrameParser;
import io.vswitch.core.frame.VnetHeader;
import io.vswitch.core.testing.Frames;
import io.vswitch.linux.DirectAddress;
import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;

/**
 * Two VXLAN ports on loopback, A on 127.0.0.1 and B on 127.0.0.2, each other's only remote, on a UDP
 * port nobody else uses: real kernel sockets without namespaces.
 */
final class LoopbackPair implements AutoCloseable {
    static final String A = "127.0.0.1";
    static final String B = "127.0.0.2";

    final int dstPort;
    final VxlanPort a;
    final VxlanPort b;

    LoopbackPair(int vni) throws IOException {
        this(vni, List.of(B), List.of(A));
    }

    LoopbackPair(int vni, List<String> remotesOfA, List<String> remotesOfB) throws IOException {
        this(vni, remotesOfA, remotesOfB, null);
    }

    /** With {@code udpCsumOfA}, A sends IPv4 UDP checksums (which B's kernel socket verifies). */
    LoopbackPair(int vni, List<String> remotesOfA, List<String> remotesOfB, Boolean udpCsumOfA) throws IOException {
        dstPort = freeUdpPort();
        a = VxlanPort.open("vxa", VxlanSettings.parse(vni, A, remotesOfA, dstPort, null, null, udpCsumOfA, null, null));
        VxlanPort opened;
        try {
            opened = VxlanPort.open("vxb", VxlanSettings.parse(vni, B, remotesOfB, dstPort, null, null, null, null, null));
        } catch (IOException | RuntimeException e) {
            a.close();
            throw e;
        }
        b = opened;
    }

    static int freeUdpPort() throws IOException {
        try (DatagramSocket s = new DatagramSocket(new InetSocketAddress(InetAddress.getByName(A), 0))) {
            return s.getLocalPort();
        }
    }

    /** An Ethernet frame of {@code length} bytes from {@code src} to {@code dst} (IPv4 EtherType, zero payload). */
    static Frame frame(FragAllocator allocator, long dst, long src, int length) {
        Frame f = new Frame();
        if (!allocator.allocate(f, length)) {
            throw new IllegalStateException("allocator full");
        }
        for (int i = 0; i < length; i += 2) {
            f.putU16(i, 0);
        }
        f.putU16(0, (int) (dst >>> 32));
        f.putI32(2, (int) dst);
        f.putU16(6, (int) (src >>> 32));
        f.putI32(8, (int) src);
        f.putU16(12, 0x0800);
        f.setFlowHash((int) (src ^ dst) * 0x9e3779b1);
        return f;
    }

    /**
     * A TCP/IPv4 super-frame from {@code src} to {@code dst} with {@code payload} bytes, parsed, with the
     * virtio-net offload state of a TSO frame to be cut into {@code mss}-byte segments.
     */
    static Frame tcpSuperFrame(FragAllocator allocator, long dst, long src, int payload, int mss) {
        byte[] bytes = Frames.tcp4(dst, src, 0xc6130001, 0xc6130002, 40000, 5201, 7, payload);
        Frame f = new Frame();
        if (!allocator.allocate(f, bytes.length)) {
            throw new IllegalStateException("allocator full");
        }
        f.write(bytes, 0, bytes.length);
        if (FrameParser.parse(f) != FrameParser.OK) {
            throw new IllegalStateException("super-frame does not parse");
        }
        f.setOffload(VnetHeader.FLAG_NEEDS_CSUM, VnetHeader.GSO_TCPV4, 54, mss, 34, 16);
        f.setFlowHash(0x5eed_1234);
        return f;
    }

    static FragAllocator allocator() {
        return new FragAllocator(DirectAddress.INSTANCE);
    }

    /** Receives on {@code port} until {@code want} frames came or 2 s passed; releases them; returns how many. */
    static int drain(VxlanPort port, FrameBatch batch, int want) {
        long deadline = System.nanoTime() + 2_000_000_000L;
        int got = 0;
        while (got < want && System.nanoTime() < deadline) {
            int n = port.queue(0).receive(batch);
            for (int i = 0; i < batch.count(); i++) {
                batch.get(i).release();
            }
            batch.clear();
            got += Math.max(n, 0);
        }
        return got;
    }

    @Override
    public void close() {
        b.close();
        a.close();
    }

    /** Receives on {@code port} until {@code want} frames came or 2 s passed; copies and releases them. */
    static List<byte[]> receive(VxlanPort port, int want) {
        List<byte[]> got = new ArrayList<>();
        FrameBatch batch = new FrameBatch(FrameBatch.DEFAULT_CAPACITY);
        long deadline = System.nanoTime() + 2_000_000_000L;
        while (got.size() < want && System.nanoTime() < deadline) {
            port.queue(0).receive(batch);
            for (int i = 0; i < batch.count(); i++) {
                got.add(batch.get(i).toBytes());
                batch.get(i).release();
            }
            batch.clear();
        }
        return got;
    }
}
