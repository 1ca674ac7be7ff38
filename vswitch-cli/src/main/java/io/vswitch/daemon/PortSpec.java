package io.vswitch.daemon;

import com.fasterxml.jackson.annotation.JsonInclude;
import io.vswitch.vxlan.VxlanSettings;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * What an operator asked a port to be: its kind, name and settings. The unit of configuration: the
 * config file holds a list of these, {@code --port} and {@code add-port} build one, and the daemon
 * makes ports from them. Immutable; {@code with...} methods return changed copies.
 *
 * @param type {@code tap}, {@code vm-stream}, {@code vm-dgram}, {@code system} (an existing interface), {@code vhost-user}
 *     or {@code vxlan}
 * @param queues queue count (TAP and system ports) or queue pairs (vhost-user), 1 by default
 * @param vlan access VLAN, or null
 * @param trunk trunk VLANs, or null
 * @param nativeVlan native VLAN of a trunk, or null
 * @param mtu MTU to set on the device (for vxlan: the inner MTU), or null to leave it
 * @param netns network namespace to move a TAP into, or whose network a vxlan port's sockets use; or null
 * @param mac MAC address to set on a TAP, or null
 * @param path unix socket path of a VM port, or null for the default
 * @param peer QEMU's socket path of a vm-dgram port
 * @param mode vhost-user: {@code client} (default: QEMU serves the socket, vswitch connects and
 *     reconnects) or {@code server} (vswitch serves it)
 * @param owner vhost-user server mode: the socket file's owner, or null to inherit
 * @param group vhost-user server mode: the socket file's group, or null to inherit
 * @param socketMode vhost-user server mode: the socket file's octal permissions (e.g. {@code 0660}), or null
 * @param vni VXLAN network identifier of a vxlan port
 * @param local local VTEP address of a vxlan port (its UDP socket binds it)
 * @param remotes remote VTEP addresses of a vxlan port, or {@code any}
 * @param dstPort UDP port of a vxlan port, or null for 4789
 * @param ttl outer TTL of a vxlan port, or null for the kernel's default
 * @param df outer DF bit of a vxlan port: {@code set} or {@code unset} (null: unset)
 * @param udpCsum UDP checksum for IPv4 outers of a vxlan port, or null for off
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record PortSpec(
        String name, String type, Integer queues, Integer vlan, List<Integer> trunk, Integer nativeVlan,
        Integer mtu, String netns, String mac, String path, String peer,
        Boolean learning, Boolean flooding, Boolean adminUp,
        String mode, String owner, String group, String socketMode,
        Integer vni, String local, List<String> remotes, Integer dstPort, Integer ttl, String df, Boolean udpCsum) {

    public static final List<String> TYPES = List.of("tap", "vm-stream", "vm-dgram", "system", "vhost-user", "vxlan");
    public static final int MAX_QUEUES = 16;
    private static final Pattern IFNAME = Pattern.compile("[A-Za-z0-9_.-]{1,15}");
    private static final Pattern MAC = Pattern.compile("([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}");
    private static final Pattern OCTAL_MODE = Pattern.compile("0?[0-7]{3}");
    private static final Pattern NETNS = Pattern.compile("[A-Za-z0-9_.-]{1,64}");

    public PortSpec {
        if (name == null || !IFNAME.matcher(name).matches()) {
            throw new IllegalArgumentException("port name '" + name + "' is not valid: use 1-15 letters, digits, '_', '.' or '-'");
        }
        type = type == null ? "tap" : type.toLowerCase(Locale.ROOT);
        if (!TYPES.contains(type)) {
            throw new IllegalArgumentException("port type '" + type + "' is unknown: use one of " + String.join(", ", TYPES));
        }
        if (queues != null && (queues < 1 || queues > MAX_QUEUES)) {
            throw new IllegalArgumentException("queues=" + queues + " is out of range: use 1-" + MAX_QUEUES);
        }
        if (queues != null && queues > 1 && !type.equals("tap") && !type.equals("system") && !type.equals("vhost-user")) {
            throw new IllegalArgumentException("only tap, system and vhost-user ports have several queues");
        }
        if (mode != null) {
            mode = mode.toLowerCase(Locale.ROOT);
            if (!mode.equals("client") && !mode.equals("server")) {
                throw new IllegalArgumentException("mode '" + mode + "' is unknown: use client or server");
            }
        }
        if ((mode != null || owner != null || group != null || socketMode != null) && !type.equals("vhost-user")) {
            throw new IllegalArgumentException("mode, owner, group and socket-mode apply to vhost-user ports only");
        }
        if ((owner != null || group != null || socketMode != null) && !"server".equals(mode)) {
            throw new IllegalArgumentException("owner, group and socket-mode set up the socket vswitch creates: add --mode server"
                    + " (in client mode QEMU creates the socket)");
        }
        if (socketMode != null && !OCTAL_MODE.matcher(socketMode).matches()) {
            throw new IllegalArgumentException("socket-mode '" + socketMode + "' is not an octal mode: write it like 0660");
        }
        if (vlan != null && trunk != null) {
            throw new IllegalArgumentException("a port is either an access port (vlan) or a trunk (trunk), not both");
        }
        if (nativeVlan != null && trunk == null) {
            throw new IllegalArgumentException("a native VLAN needs a trunk: add trunk=V1+V2");
        }
        checkVid(vlan);
        checkVid(nativeVlan);
        if (trunk != null) {
            if (trunk.isEmpty()) {
                throw new IllegalArgumentException("a trunk needs at least one VLAN");
            }
            trunk.forEach(PortSpec::checkVid);
            trunk = List.copyOf(trunk);
        }
        if (mtu != null && (mtu < 68 || mtu > 65521)) {
            throw new IllegalArgumentException("mtu=" + mtu + " is out of range: use 68-65521");
        }
        if (netns != null && !NETNS.matcher(netns).matches()) {
            throw new IllegalArgumentException("netns '" + netns + "' is not a valid namespace name");
        }
        if (mac != null && !MAC.matcher(mac).matches()) {
            throw new IllegalArgumentException("mac '" + mac + "' is not valid: use six hex pairs like 02:00:00:00:00:01");
        }
        if (type.equals("vm-dgram") && peer == null) {
            throw new IllegalArgumentException("a vm-dgram port needs --peer, the path of QEMU's own socket");
        }
        if (!type.equals("tap") && mac != null) {
            throw new IllegalArgumentException("mac applies to tap ports only");
        }
        if (!type.equals("tap") && !type.equals("vxlan") && netns != null) {
            throw new IllegalArgumentException("netns applies to tap and vxlan ports only");
        }
        if (type.equals("system") && (mtu != null || path != null || peer != null)) {
            throw new IllegalArgumentException("a system port attaches an existing interface as it is: set its MTU with"
                    + " `ip link set dev " + name + " mtu M`, not through the switch (path and peer are for VM ports)");
        }
        boolean tunnelSettings = vni != null || local != null || remotes != null || dstPort != null || ttl != null
                || df != null || udpCsum != null;
        if (type.equals("vxlan")) {
            remotes = remotes == null ? List.of() : List.copyOf(remotes);
            VxlanSettings.parse(vni, local, remotes, dstPort, ttl, df, udpCsum, netns, mtu); // checks now, naming any problem
        } else if (tunnelSettings) {
            throw new IllegalArgumentException("vni, local, remote, dstport, ttl, df and udp-csum apply to vxlan ports only");
        }
    }

    /** The checked settings of a vxlan port. */
    public VxlanSettings vxlanSettings() {
        return VxlanSettings.parse(vni, local, remotes, dstPort, ttl, df, udpCsum, netns, mtu);
    }

    private static void checkVid(Integer vid) {
        if (vid != null && (vid < 1 || vid > 4094)) {
            throw new IllegalArgumentException("VLAN " + vid + " is out of range: use 1-4094");
        }
    }

    /** A plain port of {@code type} with default settings. */
    public static PortSpec of(String name, String type) {
        return new PortSpec(name, type, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null,
                null, null, null, null, null, null, null);
    }

    /**
     * Parses {@code tap:NAME,queues=4,vlan=10,netns=NS} ({@code trunk=10+20}, {@code native=V},
     * {@code mtu=M}, {@code mac=M}, {@code path=P}, {@code peer=P}, {@code mode=client|server},
     * {@code owner=U}, {@code group=G}, {@code socket-mode=0660}; for vxlan {@code vni=N}, {@code local=A},
     * {@code remote=A+B} or {@code remote=any}, {@code dstport=P}, {@code ttl=T}, {@code df=set|unset},
     * {@code udpcsum=on|off}).
     */
    public static PortSpec parse(String text) {
        int colon = text.indexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException("port spec '" + text + "' needs a kind: write TYPE:NAME[,key=value...], e.g. tap:tap0,queues=2");
        }
        String type = text.substring(0, colon);
        String[] parts = text.substring(colon + 1).split(",");
        Map<String, String> options = new LinkedHashMap<>();
        for (int i = 1; i < parts.length; i++) {
            int eq = parts[i].indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("'" + parts[i] + "' in '" + text + "' is not key=value");
            }
            options.put(parts[i].substring(0, eq), parts[i].substring(eq + 1));
        }
        PortSpec spec = new PortSpec(parts[0], type,
                integer(options.remove("queues"), "queues"), integer(options.remove("vlan"), "vlan"),
                vlanList(options.remove("trunk")), integer(options.remove("native"), "native"),
                integer(options.remove("mtu"), "mtu"), options.remove("netns"), options.remove("mac"),
                options.remove("path"), options.remove("peer"), null, null, null,
                options.remove("mode"), options.remove("owner"), options.remove("group"), options.remove("socket-mode"),
                integer(options.remove("vni"), "vni"), options.remove("local"), remoteList(options.remove("remote")),
                integer(options.remove("dstport"), "dstport"), integer(options.remove("ttl"), "ttl"), options.remove("df"),
                onOff(options.remove("udpcsum"), "udpcsum"));
        if (!options.isEmpty()) {
            throw new IllegalArgumentException("unknown option '" + options.keySet().iterator().next() + "' in '" + text
                    + "': allowed are queues, vlan, trunk, native, mtu, netns, mac, path, peer, mode, owner, group, socket-mode,"
                    + " and for vxlan vni, local, remote, dstport, ttl, df, udpcsum");
        }
        return spec;
    }

    private static Integer integer(String value, String key) {
        if (value == null) {
            return null;
        }
        try {
            return Integer.valueOf(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + "=" + value + " is not a number");
        }
    }

    private static List<String> remoteList(String value) {
        return value == null ? null : List.of(value.split("\\+"));
    }

    private static Boolean onOff(String value, String key) {
        if (value == null) {
            return null;
        }
        switch (value) {
            case "on":
                return true;
            case "off":
                return false;
            default:
                throw new IllegalArgumentException(key + "=" + value + " is not valid: use on or off");
        }
    }

    /** Parses {@code 10+20+30} or {@code 10,20}. */
    public static List<Integer> vlanList(String value) {
        if (value == null) {
            return null;
        }
        List<Integer> out = new ArrayList<>();
        for (String part : value.split("[+,]")) {
            out.add(integer(part.trim(), "trunk"));
        }
        return out;
    }

    public int queueCount() {
        return queues == null ? 1 : queues;
    }

    public boolean learningOn() {
        return learning == null || learning;
    }

    public boolean floodingOn() {
        return flooding == null || flooding;
    }

    public boolean adminUpOn() {
        return adminUp == null || adminUp;
    }

    public PortSpec withVlans(Integer newVlan, List<Integer> newTrunk, Integer newNative) {
        return new PortSpec(name, type, queues, newVlan, newTrunk, newNative, mtu, netns, mac, path, peer, learning, flooding, adminUp,
                mode, owner, group, socketMode,
                vni, local, remotes, dstPort, ttl, df, udpCsum);
    }

    public PortSpec withFlags(Boolean newLearning, Boolean newFlooding, Boolean newAdminUp) {
        return new PortSpec(name, type, queues, vlan, trunk, nativeVlan, mtu, netns, mac, path, peer,
                newLearning == null ? learning : newLearning,
                newFlooding == null ? flooding : newFlooding,
                newAdminUp == null ? adminUp : newAdminUp,
                mode, owner, group, socketMode,
                vni, local, remotes, dstPort, ttl, df, udpCsum);
    }

    /**
     * This vxlan port's spec with other remotes, TTL, DF or checksum setting (null: unchanged; checksums
     * off are stored as null, as add-port stores them); validated.
     */
    public PortSpec withTunnel(List<String> newRemotes, Integer newTtl, String newDf, Boolean newUdpCsum) {
        return new PortSpec(name, type, queues, vlan, trunk, nativeVlan, mtu, netns, mac, path, peer, learning, flooding, adminUp,
                mode, owner, group, socketMode,
                vni, local, newRemotes == null ? remotes : newRemotes, dstPort, newTtl == null ? ttl : newTtl,
                newDf == null ? df : newDf, newUdpCsum == null ? udpCsum : newUdpCsum ? Boolean.TRUE : null);
    }
}
