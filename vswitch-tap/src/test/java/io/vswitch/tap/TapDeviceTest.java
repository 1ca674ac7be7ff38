package io.vswitch.tap;

import io.vswitch.linux.ErrnoException;
import io.vswitch.linux.LibC;
import static io.vswitch.tap.KernelSandbox.ip;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Creating and attaching to real multi-queue TAP devices. Needs root; see {@link KernelSandbox}. */
class TapDeviceTest {

    private static final byte[] MAC = {0x02, 0x00, 0x5e, 0x10, 0x00, 0x01};

    @RegisterExtension
    final KernelSandbox sandbox = new KernelSandbox();

    @Test
    void createsMultiQueueTapWithLinkSettings() throws IOException {
        String name = sandbox.deviceName();
        try (TapDevice tap = TapDevice.open(name, 2)) {
            tap.setMtu(1400);
            tap.setMac(MAC);
            tap.setUp(true);

            String details = ip("-d", "link", "show", "dev", name);
            System.out.println(details);
            assertTrue(details.contains("tun type tap pi off vnet_hdr on multi_queue numqueues 2"), details);
            assertTrue(details.contains("persist off"), details);
            assertTrue(details.contains("mtu 1400"), details);
            assertTrue(details.contains("link/ether 02:00:5e:10:00:01"), details);
            assertTrue(details.matches("(?s)\\d+: " + name + ": <[A-Z_,]*\\bUP\\b.*"), details);
            assertEquals(Integer.parseInt(details.substring(0, details.indexOf(':'))), tap.ifindex());

            assertEquals(name, tap.name());
            assertEquals(2, tap.queueCount());
            assertEquals(12, tap.vnetHeaderSize());
            assertFalse(tap.preexisting());
            assertTrue(tap.offloads().containsAll(EnumSet.of(
                    TapDevice.Offload.CSUM, TapDevice.Offload.TSO4, TapDevice.Offload.TSO6)), tap.offloads()::toString);
            System.out.println("offloads accepted: " + tap.offloads());
            for (int q = 0; q < 2; q++) {
                int flags = LibC.INSTANCE.fcntl(tap.fd(q), LibC.F_GETFL, 0);
                assertTrue(flags >= 0 && (flags & LibC.O_NONBLOCK) != 0, "queue " + q + " not O_NONBLOCK");
            }
        }
        // Not persistent: closing the last queue fd removed the device.
        assertThrows(IOException.class, () -> ip("link", "show", "dev", name));
    }

    @Test
    void lettingTheKernelNameTheDevice() throws IOException {
        try (TapDevice tap = TapDevice.open("", 1)) {
            assertTrue(tap.name().startsWith("tap"), tap.name());
            assertTrue(ip("-d", "link", "show", "dev", tap.name()).contains("multi_queue"));
        }
    }

    @Test
    void attachesToPersistentTapAndLeavesItInPlace() throws IOException {
        String name = sandbox.deviceName();
        ip("tuntap", "add", "dev", name, "mode", "tap", "multi_queue");
        try (TapDevice tap = TapDevice.open(name, 2)) {
            assertTrue(tap.preexisting());
            String details = ip("-d", "link", "show", "dev", name);
            assertTrue(details.contains("vnet_hdr on multi_queue numqueues 2"), details);
            assertTrue(details.contains("persist on"), details);
        }
        String after = ip("-d", "link", "show", "dev", name);
        assertTrue(after.contains("numqueues 0"), after);
    }

    @Test
    void refusesSingleQueueTapAndClosesWhatItOpened() throws IOException {
        String name = sandbox.deviceName();
        ip("tuntap", "add", "dev", name, "mode", "tap");
        long fdsBefore = openTunFds();
        ErrnoException e = assertThrows(ErrnoException.class, () -> TapDevice.open(name, 2));
        assertEquals(LibC.EINVAL, e.errno(), e::getMessage);
        assertEquals(fdsBefore, openTunFds(), "leaked a /dev/net/tun fd");
        assertTrue(ip("-d", "link", "show", "dev", name).contains("persist on"));
    }

    private static long openTunFds() throws IOException {
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.filter(fd -> {
                try {
                    return Files.readSymbolicLink(fd).toString().equals("/dev/net/tun");
                } catch (IOException closedMeanwhile) {
                    return false;
                }
            }).count();
        }
    }
}
