package io.vswitch.daemon;

import com.fasterxml.jackson.annotation.JsonInclude;
import io.vswitch.core.fdb.Fdb;
import java.util.List;

/**
 * The whole persistent configuration: ports, static FDB entries and switch settings. Immutable; the
 * daemon replaces it on every change and {@link ConfigStore} writes it atomically.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record SwitchConfig(int version, Integer ageingSeconds, Integer fdbMaxEntries, Integer fdbMaxPerPort,
        List<PortSpec> ports, List<StaticEntry> staticFdb) {

    public static final int VERSION = 1;

    public SwitchConfig {
        if (version != VERSION) {
            throw new IllegalArgumentException("configuration version " + version + " is not supported (expected " + VERSION + ")");
        }
        ports = ports == null ? List.of() : List.copyOf(ports);
        staticFdb = staticFdb == null ? List.of() : List.copyOf(staticFdb);
        if (ageingSeconds != null && ageingSeconds < 1) {
            throw new IllegalArgumentException("ageing time must be at least 1 second");
        }
    }

    /** The embedded default: no ports, kernel-bridge ageing, default FDB limits. */
    public static SwitchConfig empty() {
        return new SwitchConfig(VERSION, null, null, null, List.of(), List.of());
    }

    public int ageing() {
        return ageingSeconds == null ? Fdb.DEFAULT_AGEING_SECONDS : ageingSeconds;
    }

    public int maxEntries() {
        return fdbMaxEntries == null ? Fdb.DEFAULT_MAX_ENTRIES : fdbMaxEntries;
    }

    public int maxPerPort() {
        return fdbMaxPerPort == null ? Fdb.DEFAULT_MAX_PER_PORT : fdbMaxPerPort;
    }

    public SwitchConfig withPorts(List<PortSpec> newPorts) {
        return new SwitchConfig(version, ageingSeconds, fdbMaxEntries, fdbMaxPerPort, newPorts, staticFdb);
    }

    public SwitchConfig withStaticFdb(List<StaticEntry> entries) {
        return new SwitchConfig(version, ageingSeconds, fdbMaxEntries, fdbMaxPerPort, ports, entries);
    }

    public SwitchConfig withAgeing(int seconds) {
        return new SwitchConfig(version, seconds, fdbMaxEntries, fdbMaxPerPort, ports, staticFdb);
    }

    public SwitchConfig withLimits(Integer maxEntries, Integer maxPerPort) {
        return new SwitchConfig(version, ageingSeconds, maxEntries, maxPerPort, ports, staticFdb);
    }

    /**
     * A static FDB entry as stored: MAC text, VLAN (0 for untagged), port name, and for a vxlan port the
     * remote VTEP the MAC is behind (null otherwise).
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record StaticEntry(String mac, int vlan, String port, String remote) {
    }
}
