package io.vswitch.daemon;

import static io.vswitch.daemon.ControlArgs.invalid;

import com.fasterxml.jackson.databind.JsonNode;
import io.vswitch.control.ControlException;
import io.vswitch.control.Protocol;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** {@code add-port}, {@code del-port}, {@code set-port}: the switch's ports, live and in the configuration. */
final class PortControl {
    private final Vswitchd daemon;

    PortControl(Vswitchd daemon) {
        this.daemon = daemon;
    }

    Object add(JsonNode args) throws ControlException {
        PortSpec spec;
        try {
            spec = Protocol.JSON.treeToValue(args, PortSpec.class);
        } catch (IOException e) {
            throw invalid(ControlArgs.rootMessage(e));
        }
        synchronized (daemon.lock()) {
            if (daemon.registry().get(spec.name()) != null) {
                throw new ControlException(ControlException.CONFLICT, "port " + spec.name()
                        + " already exists: use set-port to change it or del-port first");
            }
            try {
                daemon.registry().add(spec);
            } catch (IOException e) {
                throw new ControlException(ControlException.FAILED, "cannot create port " + spec.name() + ": " + e.getMessage());
            } catch (IllegalArgumentException e) {
                throw invalid(e.getMessage());
            }
            List<PortSpec> ports = new ArrayList<>(daemon.config().ports());
            ports.add(spec);
            daemon.commit(daemon.config().withPorts(ports));
            return PortView.describe(daemon, daemon.registry().get(spec.name()));
        }
    }

    Object delete(JsonNode args) throws ControlException {
        String name = ControlArgs.text(args, "name");
        synchronized (daemon.lock()) {
            ControlArgs.port(daemon, name);
            daemon.registry().remove(name);
            List<PortSpec> ports = new ArrayList<>(daemon.config().ports());
            ports.removeIf(p -> p.name().equals(name));
            List<SwitchConfig.StaticEntry> statics = new ArrayList<>(daemon.config().staticFdb());
            statics.removeIf(e -> e.port().equals(name));
            daemon.commit(daemon.config().withPorts(ports).withStaticFdb(statics));
            return Map.of("removed", name);
        }
    }

    Object set(JsonNode args) throws ControlException {
        String name = ControlArgs.text(args, "name");
        synchronized (daemon.lock()) {
            PortRegistry.Entry entry = ControlArgs.port(daemon, name);
            PortSpec spec;
            try {
                spec = changed(entry.spec, args);
            } catch (IllegalArgumentException e) {
                throw invalid(e.getMessage());
            }
            daemon.registry().update(spec);
            List<PortSpec> ports = new ArrayList<>(daemon.config().ports());
            PortSpec updated = spec;
            ports.replaceAll(p -> p.name().equals(name) ? updated : p);
            daemon.commit(daemon.config().withPorts(ports));
            return PortView.describe(daemon, entry);
        }
    }

    /** {@code spec} with the VLAN mode and flags {@code args} sets; throws IllegalArgumentException on bad values. */
    private static PortSpec changed(PortSpec spec, JsonNode args) {
        if (args.path("untagged").asBoolean(false)) {
            spec = spec.withVlans(null, null, null);
        }
        if (args.hasNonNull("vlan")) {
            spec = spec.withVlans(args.get("vlan").asInt(), null, null);
        }
        if (args.hasNonNull("trunk")) {
            List<Integer> trunk = new ArrayList<>();
            args.get("trunk").forEach(v -> trunk.add(v.asInt()));
            Integer nativeVlan = args.hasNonNull("native") ? args.get("native").asInt() : null;
            spec = spec.withVlans(null, trunk, nativeVlan);
        } else if (args.hasNonNull("native")) {
            spec = spec.withVlans(spec.vlan(), spec.trunk(), args.get("native").asInt());
        }
        return spec.withFlags(ControlArgs.bool(args, "learning"), ControlArgs.bool(args, "flooding"),
                args.hasNonNull("admin") ? ControlArgs.adminUp(args.get("admin").asText()) : null);
    }
}
