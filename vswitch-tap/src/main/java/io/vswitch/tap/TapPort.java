package io.vswitch.tap;

import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.port.Port;
import java.io.IOException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A switch port on a multi-queue TAP: one {@link TapQueue} per queue fd. Owns its {@link TapDevice}
 * and closes it in {@link #close()}; a device this port created disappears then, a persistent one
 * made with {@code ip tuntap add} stays.
 */
public final class TapPort implements Port {
    private static final Logger LOG = LoggerFactory.getLogger(TapPort.class);

    private final TapDevice device;
    private final TapQueue[] queues;
    private final int offloads;
    private volatile boolean gone;

    private TapPort(TapDevice device) {
        this.device = device;
        int bits = 0;
        for (TapDevice.Offload offload : device.offloads()) {
            bits |= offload.flag();
        }
        this.offloads = bits;
        this.queues = new TapQueue[device.queueCount()];
        for (int i = 0; i < queues.length; i++) {
            queues[i] = new TapQueue(this, i, device.fd(i));
        }
    }

    /**
     * Creates or attaches to TAP {@code name} with {@code queueCount} queues, sets MTU and MAC when
     * given, and either brings the link up or, when {@code netns} is given, moves it there (after
     * configuring it, since our ioctls cannot reach it there) and leaves bringing it up to the
     * namespace's owner: a move takes the link down anyway, and a link up in our namespace first
     * would have queued our namespace's IPv6 router solicitations and listener reports on the port
     * (the {@code no-output} drops of a fresh demo).
     */
    public static TapPort open(String name, int queueCount, Integer mtu, byte[] mac, String netns) throws IOException {
        TapDevice device = TapDevice.open(name, queueCount);
        try {
            if (mtu != null) {
                device.setMtu(mtu);
            }
            if (mac != null) {
                device.setMac(mac);
            }
            if (netns != null) {
                device.moveToNetns(netns);
            } else {
                device.setUp(true);
            }
            return new TapPort(device);
        } catch (IOException | RuntimeException e) {
            device.close();
            throw e;
        }
    }

    public TapDevice device() {
        return device;
    }

    @Override
    public String name() {
        return device.name();
    }

    @Override
    public String kind() {
        return "tap";
    }

    @Override
    public int queueCount() {
        return queues.length;
    }

    @Override
    public TapQueue queue(int index) {
        return queues[index];
    }

    @Override
    public int offloads() {
        return offloads;
    }

    /**
     * Whatever a TAP write takes: the kernel accepts frames up to 64 KiB whatever the device MTU (the
     * MTU limits what the stack sends, not what it receives), and the namespace may change the MTU at
     * any time without telling us.
     */
    @Override
    public int maxFrameLength() {
        return FragAllocator.MAX_LARGE_FRAME;
    }

    @Override
    public boolean linkUp() {
        return !gone;
    }

    /** Called by a queue that saw EBADFD: the device was deleted from outside. */
    void markGone() {
        if (!gone) {
            gone = true;
            LOG.warn("port {}: TAP device deleted from outside; port is down", name());
        }
    }

    @Override
    public void close() {
        for (TapQueue q : queues) {
            q.close();
        }
        device.close();
    }
}
