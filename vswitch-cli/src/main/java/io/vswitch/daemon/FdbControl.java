package io.vswitch.daemon;

import static io.vswitch.daemon.ControlArgs.invalid;

import com.fasterxml.jackson.databind.JsonNode;
import io.vswitch.control.ControlException;
import io.vswitch.core.bridge.BridgePort;
import io.vswitch.core.fdb.Fdb;
import io.vswitch.vxlan.VxlanPort;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** {@code fdb show|add|del|flush}: the forwarding database; static entries persist in the configuration. */
final class FdbControl {
    private final Vswitchd daemon;

    FdbControl(Vswitchd daemon) {
        this.daemon = daemon;
    }

    Object show(JsonNode args) throws ControlException {
        String portFilter = args.hasNonNull("port") ? args.get("port").asText() : null;
        int vlanFilter = args.hasNonNull("vlan") ? args.get("vlan").asInt() : -1;
        synchronized (daemon.lock()) {
            int portIndex = portFilter == null ? -1 : ControlArgs.port(daemon, portFilter).bridgePort.index();
            List<Map<String, Object>> rows = new ArrayList<>();
            daemon.bridge().fdb().forEach(System.nanoTime(), (vlan, mac, port, isStatic, age) -> {
                if ((portIndex >= 0 && port != portIndex) || (vlanFilter >= 0 && vlan != vlanFilter)) {
                    return;
                }
                BridgePort bp = daemon.bridge().portAt(port);
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("mac", Macs.format(mac));
                row.put("vlan", vlan);
                row.put("port", bp == null ? "?" : bp.name());
                if (bp != null && bp.port() instanceof VxlanPort vxlan) {
                    String remote = vxlan.remoteOf(mac);
                    if (remote != null) {
                        row.put("remote", remote);
                    }
                }
                row.put("static", isStatic);
                row.put("ageSeconds", isStatic ? 0 : TimeUnit.NANOSECONDS.toMillis(age) / 1000.0);
                rows.add(row);
            });
            rows.sort(Comparator.comparing(r -> (String) r.get("port") + r.get("vlan") + r.get("mac")));
            return rows;
        }
    }

    Object add(JsonNode args) throws ControlException {
        String macText = ControlArgs.text(args, "mac");
        long mac = ControlArgs.mac(macText);
        int vlan = ControlArgs.vlan(args);
        String port = ControlArgs.text(args, "port");
        String remote = args.hasNonNull("remote") ? args.get("remote").asText() : null;
        synchronized (daemon.lock()) {
            PortRegistry.Entry e = ControlArgs.port(daemon, port);
            VxlanPort vxlan = e.bridgePort.port() instanceof VxlanPort v ? v : null;
            if (remote != null && vxlan == null) {
                throw invalid("--remote applies to vxlan ports only; " + port + " is a " + e.bridgePort.port().kind() + " port");
            }
            try {
                if (remote != null) {
                    vxlan.addStatic(mac, remote);
                }
                daemon.bridge().fdb().addStatic(vlan, mac, e.bridgePort.index());
            } catch (IllegalArgumentException ex) {
                throw invalid(ex.getMessage());
            }
            List<SwitchConfig.StaticEntry> statics = new ArrayList<>(daemon.config().staticFdb());
            statics.removeIf(s -> s.vlan() == vlan && Macs.parse(s.mac()) == mac);
            statics.add(new SwitchConfig.StaticEntry(Macs.format(mac), vlan, port, remote == null ? null : vxlan.remoteOf(mac)));
            daemon.commit(daemon.config().withStaticFdb(statics));
            Map<String, Object> out = new LinkedHashMap<>(Map.of("mac", Macs.format(mac), "vlan", vlan, "port", port, "static", true));
            if (remote != null) {
                out.put("remote", vxlan.remoteOf(mac));
            }
            return out;
        }
    }

    Object delete(JsonNode args) throws ControlException {
        long mac = ControlArgs.mac(ControlArgs.text(args, "mac"));
        int vlan = ControlArgs.vlan(args);
        synchronized (daemon.lock()) {
            int port = daemon.bridge().fdb().lookup(vlan, mac);
            BridgePort bp = port == Fdb.NO_PORT ? null : daemon.bridge().portAt(port);
            if (bp != null && bp.port() instanceof VxlanPort vxlan) {
                vxlan.forget(mac);
            }
            if (!daemon.bridge().fdb().remove(vlan, mac)) {
                throw new ControlException(ControlException.INVALID_ARGUMENT, "no FDB entry for " + Macs.format(mac)
                        + " in VLAN " + vlan + ": see 'vswitch fdb show'");
            }
            List<SwitchConfig.StaticEntry> statics = new ArrayList<>(daemon.config().staticFdb());
            if (statics.removeIf(s -> s.vlan() == vlan && Macs.parse(s.mac()) == mac)) {
                daemon.commit(daemon.config().withStaticFdb(statics));
            }
            return Map.of("removed", Macs.format(mac), "vlan", vlan);
        }
    }

    Object flush(JsonNode args) throws ControlException {
        synchronized (daemon.lock()) {
            int port = Fdb.NO_PORT;
            if (args.hasNonNull("port")) {
                port = ControlArgs.port(daemon, args.get("port").asText()).bridgePort.index();
            }
            return Map.of("flushed", daemon.bridge().fdb().flush(port, false));
        }
    }
}
