package io.vswitch.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import io.vswitch.capture.PortCaptures;
import io.vswitch.control.ControlException;
import io.vswitch.control.ControlServer;
import io.vswitch.control.Protocol;
import io.vswitch.core.bridge.BridgePort;
import io.vswitch.core.fdb.Fdb;
import io.vswitch.core.frame.DropReason;
import io.vswitch.core.port.Offloads;
import io.vswitch.core.port.PortCounters;
import io.vswitch.core.port.QueueCounters;
import io.vswitch.vm.VmPort;
import io.vswitch.vxlan.VxlanPort;
import io.vswitch.vm.VmStreamPort;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * The daemon's side of every control command (the kernel bridge's {@code br_netlink.c}): validates
 * arguments, changes the running switch, persists the change, and describes state as plain maps
 * that become the JSON replies.
 */
final class ControlCommands implements ControlServer.Handler {
    private static final Pattern MAC = Pattern.compile("([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}");

    private final Vswitchd daemon;

    ControlCommands(Vswitchd daemon) {
        this.daemon = daemon;
    }

    @Override
    public Object handle(String cmd, JsonNode args) throws ControlException {
        switch (cmd) {
            case "add-port":
                return addPort(args);
            case "del-port":
                return delPort(args);
            case "set-port":
                return setPort(args);
            case "list-ports":
            case "show":
                return show();
            case "fdb-show":
                return fdbShow(args);
            case "fdb-add":
                return fdbAdd(args);
            case "fdb-del":
                return fdbDel(args);
            case "fdb-flush":
                return fdbFlush(args);
            case "set-ageing":
                return setAgeing(args);
            case "set-limits":
                return setLimits(args);
            case "flows":
                return flows(args);
            case "stats":
                return stats(args);
            case "capture":
                return capture(args);
            default:
                throw new ControlException(ControlException.UNKNOWN_COMMAND, "unknown command '" + cmd
                        + "': see 'vswitch --help'");
        }
    }

    private Object addPort(JsonNode args) throws ControlException {
        PortSpec spec;
        try {
            spec = Protocol.JSON.treeToValue(args, PortSpec.class);
        } catch (IOException e) {
            throw invalid(rootMessage(e));
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
            return describe(daemon.registry().get(spec.name()));
        }
    }

    private Object delPort(JsonNode args) throws ControlException {
        String name = text(args, "name");
        synchronized (daemon.lock()) {
            entry(name);
            daemon.registry().remove(name);
            List<PortSpec> ports = new ArrayList<>(daemon.config().ports());
            ports.removeIf(p -> p.name().equals(name));
            List<SwitchConfig.StaticEntry> statics = new ArrayList<>(daemon.config().staticFdb());
            statics.removeIf(e -> e.port().equals(name));
            daemon.commit(daemon.config().withPorts(ports).withStaticFdb(statics));
            return Map.of("removed", name);
        }
    }

    private Object setPort(JsonNode args) throws ControlException {
        String name = text(args, "name");
        synchronized (daemon.lock()) {
            PortRegistry.Entry entry = entry(name);
            PortSpec spec = entry.spec;
            try {
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
                spec = spec.withFlags(bool(args, "learning"), bool(args, "flooding"),
                        args.hasNonNull("admin") ? adminUp(args.get("admin").asText()) : null);
            } catch (IllegalArgumentException e) {
                throw invalid(e.getMessage());
            }
            daemon.registry().update(spec);
            List<PortSpec> ports = new ArrayList<>(daemon.config().ports());
            PortSpec updated = spec;
            ports.replaceAll(p -> p.name().equals(name) ? updated : p);
            daemon.commit(daemon.config().withPorts(ports));
            return describe(entry);
        }
    }

    private Object show() {
        synchronized (daemon.lock()) {
            List<Object> ports = new ArrayList<>();
            for (PortRegistry.Entry e : daemon.registry().all()) {
                ports.add(describe(e));
            }
            Fdb fdb = daemon.bridge().fdb();
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("ports", ports);
            Map<String, Object> fdbInfo = new LinkedHashMap<>();
            fdbInfo.put("learned", fdb.learnedCount());
            fdbInfo.put("static", fdb.staticCount());
            fdbInfo.put("maxEntries", fdb.maxEntries());
            fdbInfo.put("maxPerPort", fdb.maxPerPort());
            fdbInfo.put("ageingSeconds", TimeUnit.NANOSECONDS.toSeconds(fdb.ageingNanos()));
            fdbInfo.put("moves", fdb.moves());
            fdbInfo.put("refusedGlobalLimit", fdb.refusedGlobalLimit());
            fdbInfo.put("refusedPortLimit", fdb.refusedPortLimit());
            fdbInfo.put("agedOut", fdb.agedOut());
            out.put("fdb", fdbInfo);
            return out;
        }
    }

    private Map<String, Object> describe(PortRegistry.Entry e) {
        BridgePort p = e.bridgePort;
        PortCounters c = p.counters();
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("name", p.name());
        out.put("type", p.port().kind());
        out.put("index", p.index());
        out.put("queues", p.port().queueCount());
        out.put("vlanMode", p.vlans().toString());
        out.put("link", p.port().linkUp() ? "up" : "down");
        out.put("admin", p.adminUp() ? "up" : "down");
        out.put("learning", p.learning());
        out.put("flooding", p.flooding());
        out.put("offloads", Offloads.describe(p.port().offloads()));
        out.put("linkLosses", e.linkLosses.get());
        out.put("learnedMacs", daemon.bridge().fdb().learnedOnPort(p.index()));
        out.put("rxPackets", c.rxPackets());
        out.put("rxBytes", c.rxBytes());
        out.put("txPackets", c.txPackets());
        out.put("txBytes", c.txBytes());
        out.put("rxGsoFrames", c.rxGso());
        out.put("txSegmented", c.txSegmented());
        out.put("drops", dropsOf(c));
        if (p.port() instanceof VmPort vm) {
            out.put("qemu", vm.qemuNetdev());
            out.put("socket", vm.socketPath().toString());
            if (vm instanceof VmStreamPort stream && stream.guestPid() > 0) {
                out.put("guestPid", stream.guestPid());
            }
            out.put("vmEvents", vm.eventCounts());
        }
        if (p.port() instanceof VxlanPort vxlan) {
            out.put("vxlan", vxlan.describe());
        }
        out.put("spec", e.spec);
        return out;
    }

    private Map<String, Long> dropsOf(PortCounters c) {
        Map<String, Long> out = new LinkedHashMap<>();
        c.dropsByReason().forEach((r, n) -> out.put(reasonName(r), n));
        return out;
    }

    static String reasonName(DropReason r) {
        return r.name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
    }

    private Object fdbShow(JsonNode args) throws ControlException {
        String portFilter = args.hasNonNull("port") ? args.get("port").asText() : null;
        int vlanFilter = args.hasNonNull("vlan") ? args.get("vlan").asInt() : -1;
        synchronized (daemon.lock()) {
            int portIndex = portFilter == null ? -1 : entry(portFilter).bridgePort.index();
            List<Map<String, Object>> rows = new ArrayList<>();
            daemon.bridge().fdb().forEach(System.nanoTime(), (vlan, mac, port, isStatic, age) -> {
                if ((portIndex >= 0 && port != portIndex) || (vlanFilter >= 0 && vlan != vlanFilter)) {
                    return;
                }
                BridgePort bp = daemon.bridge().portAt(port);
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("mac", formatMac(mac));
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
            rows.sort((a, b) -> ((String) a.get("port") + a.get("vlan") + a.get("mac"))
                    .compareTo((String) b.get("port") + b.get("vlan") + b.get("mac")));
            return rows;
        }
    }

    private Object fdbAdd(JsonNode args) throws ControlException {
        String macText = text(args, "mac");
        long mac = parseMacArg(macText);
        int vlan = vlanArg(args);
        String port = text(args, "port");
        String remote = args.hasNonNull("remote") ? args.get("remote").asText() : null;
        synchronized (daemon.lock()) {
            PortRegistry.Entry e = entry(port);
            VxlanPort vxlan = e.bridgePort.port() instanceof VxlanPort v ? v : null;
            if (remote != null && vxlan == null) {
                throw invalid("--remote applies to vxlan ports only; " + port + " is a " + e.bridgePort.port().kind() + " port");
            }
            try {
                if (vxlan != null && remote != null) {
                    vxlan.addStatic(mac, remote);
                }
                daemon.bridge().fdb().addStatic(vlan, mac, e.bridgePort.index());
            } catch (IllegalArgumentException ex) {
                throw invalid(ex.getMessage() + ": " + macText);
            }
            List<SwitchConfig.StaticEntry> statics = new ArrayList<>(daemon.config().staticFdb());
            statics.removeIf(s -> s.vlan() == vlan && parseMac(s.mac()) == mac);
            statics.add(new SwitchConfig.StaticEntry(formatMac(mac), vlan, port, remote));
            daemon.commit(daemon.config().withStaticFdb(statics));
            Map<String, Object> out = new LinkedHashMap<>(Map.of("mac", formatMac(mac), "vlan", vlan, "port", port, "static", true));
            if (remote != null) {
                out.put("remote", vxlan.remoteOf(mac));
            }
            return out;
        }
    }

    private Object fdbDel(JsonNode args) throws ControlException {
        long mac = parseMacArg(text(args, "mac"));
        int vlan = vlanArg(args);
        synchronized (daemon.lock()) {
            int port = daemon.bridge().fdb().lookup(vlan, mac);
            BridgePort bp = port == Fdb.NO_PORT ? null : daemon.bridge().portAt(port);
            if (bp != null && bp.port() instanceof VxlanPort vxlan) {
                vxlan.forget(mac);
            }
            if (!daemon.bridge().fdb().remove(vlan, mac)) {
                throw new ControlException(ControlException.INVALID_ARGUMENT, "no FDB entry for " + formatMac(mac)
                        + " in VLAN " + vlan + ": see 'vswitch fdb show'");
            }
            List<SwitchConfig.StaticEntry> statics = new ArrayList<>(daemon.config().staticFdb());
            if (statics.removeIf(s -> s.vlan() == vlan && parseMac(s.mac()) == mac)) {
                daemon.commit(daemon.config().withStaticFdb(statics));
            }
            return Map.of("removed", formatMac(mac), "vlan", vlan);
        }
    }

    private Object fdbFlush(JsonNode args) throws ControlException {
        synchronized (daemon.lock()) {
            int port = Fdb.NO_PORT;
            if (args.hasNonNull("port")) {
                port = entry(args.get("port").asText()).bridgePort.index();
            }
            return Map.of("flushed", daemon.bridge().fdb().flush(port, false));
        }
    }

    private Object setAgeing(JsonNode args) throws ControlException {
        int seconds = args.path("seconds").asInt(-1);
        if (seconds < 1 || seconds > 1_000_000) {
            throw invalid("ageing time must be 1-1000000 seconds");
        }
        synchronized (daemon.lock()) {
            daemon.bridge().fdb().setAgeingNanos(TimeUnit.SECONDS.toNanos(seconds));
            daemon.commit(daemon.config().withAgeing(seconds));
            return Map.of("ageingSeconds", seconds);
        }
    }

    private Object setLimits(JsonNode args) throws ControlException {
        synchronized (daemon.lock()) {
            Fdb fdb = daemon.bridge().fdb();
            int max = args.path("maxEntries").asInt(fdb.maxEntries());
            int perPort = args.path("maxPerPort").asInt(fdb.maxPerPort());
            if (max < 1 || max > 16_000_000 || perPort < 1) {
                throw invalid("limits must be positive (max-entries at most 16000000)");
            }
            fdb.setLimits(max, perPort);
            daemon.commit(daemon.config().withLimits(max, perPort));
            return Map.of("maxEntries", max, "maxPerPort", perPort);
        }
    }

    private Object flows(JsonNode args) throws ControlException {
        synchronized (daemon.lock()) {
            List<PortRegistry.Entry> ports = args.hasNonNull("port") ? List.of(entry(args.get("port").asText()))
                    : daemon.registry().all();
            List<Map<String, Object>> rows = new ArrayList<>();
            long now = System.nanoTime();
            for (PortRegistry.Entry e : ports) {
                e.bridgePort.flows().forEach(now, (hash, queue, age) -> {
                    Map<String, Object> row = new LinkedHashMap<>();
                    row.put("port", e.spec.name());
                    row.put("hash", String.format("%08x", hash));
                    row.put("queue", queue);
                    row.put("ageMillis", TimeUnit.NANOSECONDS.toMillis(age));
                    rows.add(row);
                });
            }
            return rows;
        }
    }

    private Object stats(JsonNode args) throws ControlException {
        synchronized (daemon.lock()) {
            List<PortRegistry.Entry> ports = args.hasNonNull("port") ? List.of(entry(args.get("port").asText()))
                    : daemon.registry().all();
            List<Map<String, Object>> out = new ArrayList<>();
            for (PortRegistry.Entry e : ports) {
                PortCounters c = e.bridgePort.counters();
                Map<String, Object> port = new LinkedHashMap<>();
                port.put("port", e.spec.name());
                List<Map<String, Object>> queues = new ArrayList<>();
                for (int q = 0; q < c.queueCount(); q++) {
                    QueueCounters qc = c.queue(q);
                    Map<String, Object> row = new LinkedHashMap<>();
                    row.put("queue", q);
                    row.put("rxPackets", qc.rxPackets());
                    row.put("rxBytes", qc.rxBytes());
                    row.put("txPackets", qc.txPackets());
                    row.put("txBytes", qc.txBytes());
                    row.put("rxGsoFrames", qc.rxGso());
                    row.put("txSegmented", qc.txSegmented());
                    Map<String, Long> drops = new LinkedHashMap<>();
                    for (DropReason r : DropReason.values()) {
                        long n = qc.drops(r);
                        if (n != 0) {
                            drops.put(reasonName(r), n);
                        }
                    }
                    row.put("drops", drops);
                    queues.add(row);
                }
                port.put("queues", queues);
                out.add(port);
            }
            return out;
        }
    }

    private Object capture(JsonNode args) throws ControlException {
        long count = args.path("count").asLong(0);
        if (count < 0) {
            throw invalid("count must be positive (or left out to capture until interrupted)");
        }
        synchronized (daemon.lock()) {
            return PortCaptures.open(entry(text(args, "port")).bridgePort, count);
        }
    }

    private PortRegistry.Entry entry(String name) throws ControlException {
        PortRegistry.Entry e = daemon.registry().get(name);
        if (e == null) {
            List<String> names = daemon.registry().all().stream().map(x -> x.spec.name()).toList();
            throw new ControlException(ControlException.NO_SUCH_PORT, "no port named '" + name + "'; ports are: "
                    + (names.isEmpty() ? "(none: add one with 'vswitch add-port NAME --type tap')" : String.join(", ", names)));
        }
        return e;
    }

    private static String text(JsonNode args, String key) throws ControlException {
        JsonNode v = args.get(key);
        if (v == null || !v.isTextual() || v.asText().isEmpty()) {
            throw invalid("missing \"" + key + "\"");
        }
        return v.asText();
    }

    private static Boolean bool(JsonNode args, String key) {
        return args.hasNonNull(key) ? args.get(key).asBoolean() : null;
    }

    private static boolean adminUp(String state) {
        if (state.equals("up")) {
            return true;
        }
        if (state.equals("down")) {
            return false;
        }
        throw new IllegalArgumentException("admin state '" + state + "' is not valid: use up or down");
    }

    private static int vlanArg(JsonNode args) throws ControlException {
        int vlan = args.path("vlan").asInt(0);
        if (vlan < 0 || vlan > 4094) {
            throw invalid("VLAN " + vlan + " is out of range: use 1-4094, or leave it out for untagged");
        }
        return vlan;
    }

    private static long parseMacArg(String text) throws ControlException {
        if (!MAC.matcher(text).matches()) {
            throw invalid("MAC '" + text + "' is not valid: use six hex pairs like 02:00:00:00:00:01");
        }
        return parseMac(text);
    }

    static long parseMac(String text) {
        return Long.parseLong(text.replace(":", ""), 16);
    }

    static String formatMac(long mac) {
        StringBuilder s = new StringBuilder(17);
        for (int shift = 40; shift >= 0; shift -= 8) {
            s.append(String.format("%02x", (mac >>> shift) & 0xff));
            if (shift > 0) {
                s.append(':');
            }
        }
        return s.toString();
    }

    private static ControlException invalid(String message) {
        return new ControlException(ControlException.INVALID_ARGUMENT, message);
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null) {
            t = t.getCause();
        }
        return t.getMessage();
    }
}
