package io.vswitch.daemon;

import io.vswitch.core.port.Port;
import io.vswitch.tap.TapPort;
import java.io.IOException;
import java.nio.file.Path;

/** Makes a {@link Port} from its {@link PortSpec}; one method per kind of port. */
final class PortFactory {
    private final Path stateDir;

    PortFactory(Path stateDir) {
        this.stateDir = stateDir;
    }

    Port create(PortSpec spec) throws IOException {
        switch (spec.type()) {
            case "tap":
                return TapPort.open(spec.name(), spec.queueCount(), spec.mtu(), macBytes(spec.mac()), spec.netns());
            default:
                throw new IOException("port type " + spec.type() + " is not supported by this build");
        }
    }

    Path stateDir() {
        return stateDir;
    }

    static byte[] macBytes(String mac) {
        if (mac == null) {
            return null;
        }
        String[] parts = mac.split(":");
        byte[] out = new byte[6];
        for (int i = 0; i < 6; i++) {
            out[i] = (byte) Integer.parseInt(parts[i], 16);
        }
        return out;
    }
}
