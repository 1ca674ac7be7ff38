package io.vswitch.daemon;

import io.vswitch.core.port.Port;
import io.vswitch.system.SystemPort;
import io.vswitch.tap.TapPort;
import io.vswitch.vm.VmDgramPort;
import io.vswitch.vm.VmPort;
import io.vswitch.vm.VmStreamPort;
import io.vswitch.vm.vhost.VhostUserPort;
import io.vswitch.vxlan.VxlanPort;
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
            case "vm-stream":
                return VmStreamPort.open(spec.name(), socketPath(spec), spec.mtu());
            case "vm-dgram":
                return VmDgramPort.open(spec.name(), socketPath(spec), Path.of(spec.peer()), spec.mtu());
            case "vhost-user":
                return VhostUserPort.open(spec.name(), socketPath(spec),
                        spec.mode() == null ? VhostUserPort.Mode.CLIENT : VhostUserPort.Mode.parse(spec.mode()),
                        spec.queueCount(), spec.mtu(),
                        new VhostUserPort.SocketAccess(spec.owner(), spec.group(), spec.socketMode()));
            case "system":
                return SystemPort.open(spec.name(), spec.queueCount());
            case "vxlan":
                return VxlanPort.open(spec.name(), spec.vxlanSettings());
            default:
                throw new IOException("port type " + spec.type() + " is not supported by this build");
        }
    }

    /** The unix socket of a VM port: --path, or /run/vswitch/NAME.sock. */
    static Path socketPath(PortSpec spec) {
        return spec.path() == null ? VmPort.defaultSocketPath(spec.name()) : Path.of(spec.path());
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
