package io.vswitch.system;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.sun.security.auth.module.UnixSystem;
import io.vswitch.linux.IpCommand;
import io.vswitch.linux.LibC;
import io.vswitch.linux.NativeBuffer;
import io.vswitch.linux.NetDevice;
import io.vswitch.linux.PidTaggedLinks;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A real veth pair for the system-port tests: the port goes on {@link #portSide}, and a raw packet
 * socket on {@link #wireSide} stands in for the LAN. Needs root (skipped otherwise, failed under
 * VSWITCH_IT_REQUIRED); {@link #close()} deletes the pair unless the test already did. The names carry
 * this JVM's PID ({@link PidTaggedLinks}), and creating a pair first deletes those of test JVMs killed
 * before their clean-up.
 */
final class VethPair implements AutoCloseable {
    private static final String PORT_PREFIX = "vssp";
    private static final String WIRE_PREFIX = "vssw";

    final String portSide;
    final String wireSide;

    private VethPair(String portSide, String wireSide) {
        this.portSide = portSide;
        this.wireSide = wireSide;
    }

    /** Creates the pair, both ends up with carrier, with {@code mtu} on both ends. */
    static VethPair create(int mtu) throws IOException {
        requireRoot();
        PidTaggedLinks.removeStale(PORT_PREFIX, WIRE_PREFIX);
        String id = PidTaggedLinks.nextId();
        VethPair pair = new VethPair(PORT_PREFIX + id, WIRE_PREFIX + id);
        IpCommand.run(null, "link", "add", "name", pair.portSide, "mtu", Integer.toString(mtu), "type", "veth",
                "peer", "name", pair.wireSide, "mtu", Integer.toString(mtu));
        for (String dev : new String[] {pair.portSide, pair.wireSide}) {
            // No IPv6 stack on the ends: its router solicitations and MLD reports would mix with the test's frames.
            Path ipv6 = Path.of("/proc/sys/net/ipv6/conf", dev, "disable_ipv6");
            if (Files.exists(ipv6)) {
                Files.writeString(ipv6, "1");
            }
            IpCommand.run(null, "link", "set", "dev", dev, "up");
        }
        // A veth's carrier comes up a moment after "up" (the kernel's linkwatch): frames written before
        // then are dropped, so wait for it on both ends.
        long deadline = System.nanoTime() + 5_000_000_000L;
        for (String dev : new String[] {pair.portSide, pair.wireSide}) {
            Path carrier = Path.of("/sys/class/net", dev, "carrier");
            while (!Files.readString(carrier).trim().equals("1")) {
                if (System.nanoTime() > deadline) {
                    pair.close();
                    throw new IOException(dev + " has no carrier 5 s after it was set up");
                }
                Thread.onSpinWait();
            }
        }
        return pair;
    }

    /** Skips the test without root, or fails it under VSWITCH_IT_REQUIRED. */
    static void requireRoot() {
        boolean root = new UnixSystem().getUid() == 0;
        assertTrue(root || System.getenv("VSWITCH_IT_REQUIRED") == null,
                "VSWITCH_IT_REQUIRED is set but these tests need root for veth pairs and packet sockets");
        assumeTrue(root, "skipped: needs root for veth pairs and packet sockets");
    }

    /** A blocking raw packet socket bound to the wire side, for writing frames as they would arrive from a LAN. */
    int wireSocket() throws IOException {
        return wireSocket((short) 0);
    }

    /** A raw packet socket on the wire side that receives every frame arriving there (ETH_P_ALL). */
    int wireListener() throws IOException {
        return wireSocket((short) 0x0300); // htons(ETH_P_ALL)
    }

    /** A raw packet socket bound to the wire side for {@code protocol} (network byte order; 0: receives nothing). */
    private int wireSocket(short protocol) throws IOException {
        int fd = LibC.INSTANCE.socket(LibC.AF_PACKET, LibC.SOCK_RAW | LibC.SOCK_CLOEXEC, protocol);
        assertTrue(fd >= 0);
        try (NativeBuffer sll = new NativeBuffer(20)) {
            sll.putShort(0, (short) LibC.AF_PACKET);
            sll.putShort(2, protocol);
            sll.putInt(4, NetDevice.ifindex(wireSide));
            assertEquals(0, LibC.INSTANCE.bind(fd, sll.address(), 20));
        }
        return fd;
    }

    @Override
    public void close() {
        try {
            IpCommand.run(null, "link", "del", "dev", portSide);
        } catch (IOException alreadyGone) {
            // the test deleted it
        }
    }
}
