package io.vswitch.daemon;

import static io.vswitch.daemon.ControlArgs.invalid;

import com.fasterxml.jackson.databind.JsonNode;
import io.vswitch.control.ControlException;
import io.vswitch.control.Protocol;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;

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
            if (tunnelChanged(entry.spec, spec)) {
                entry = reopen(entry.spec, spec);
            } else {
                daemon.registry().update(spec);
            }
            List<PortSpec> ports = new ArrayList<>(daemon.config().ports());
            PortSpec updated = spec;
            ports.replaceAll(p -> p.name().equals(name) ? updated : p);
            daemon.commit(daemon.config().withPorts(ports));
            return PortView.describe(daemon, entry);
        }
    }

    private static boolean tunnelChanged(PortSpec old, PortSpec spec) {
        return !Objects.equals(old.remotes(), spec.remotes()) || !Objects.equals(old.ttl(), spec.ttl())
                || !Objects.equals(old.df(), spec.df()) || !Objects.equals(old.udpCsum(), spec.udpCsum());
    }

    /**
     * Remotes, TTL, DF and checksums live in a vxlan port's sockets and VTEP table, so the port is
     * opened anew with {@code spec}: its learned remote MACs are forgotten, its static entries put back.
     * If the new port cannot be opened (or a static entry pins a VTEP it no longer has), the old one is
     * restored and the reason reported.
     */
    private PortRegistry.Entry reopen(PortSpec old, PortSpec spec) throws ControlException {
        PortRegistry registry = daemon.registry();
        registry.remove(old.name());
        try {
            registry.add(spec);
            daemon.applyStaticEntries(spec.name());
            return registry.get(spec.name());
        } catch (IOException | IllegalArgumentException e) {
            registry.remove(spec.name());
            try {
                registry.add(old);
                daemon.applyStaticEntries(old.name());
            } catch (IOException | RuntimeException again) {
                throw new ControlException(ControlException.FAILED, "port " + old.name() + " could not be changed (" + e.getMessage()
                        + ") nor restored (" + again.getMessage() + "): add it again");
            }
            String fix = e.getMessage() != null && e.getMessage().contains("is not a remote of port")
                    ? ": a static entry pins that VTEP, remove it with fdb del first" : "";
            throw invalid("port " + old.name() + " unchanged: " + e.getMessage() + fix);
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
        if (args.hasNonNull("remotes") || args.hasNonNull("ttl") || args.hasNonNull("df") || args.hasNonNull("udpCsum")) {
            if (!"vxlan".equals(spec.type())) {
                throw new IllegalArgumentException("--remote, --ttl, --df and --udp-csum apply to vxlan ports only; "
                        + spec.name() + " is a " + spec.type() + " port");
            }
            List<String> remotes = null;
            if (args.hasNonNull("remotes")) {
                remotes = new ArrayList<>();
                for (JsonNode r : args.get("remotes")) {
                    remotes.add(r.asText());
                }
            }
            spec = spec.withTunnel(remotes, args.hasNonNull("ttl") ? args.get("ttl").asInt() : null,
                    args.hasNonNull("df") ? args.get("df").asText() : null, ControlArgs.bool(args, "udpCsum"));
        }
        return spec.withFlags(ControlArgs.bool(args, "learning"), ControlArgs.bool(args, "flooding"),
                args.hasNonNull("admin") ? ControlArgs.adminUp(args.get("admin").asText()) : null);
    }
}
