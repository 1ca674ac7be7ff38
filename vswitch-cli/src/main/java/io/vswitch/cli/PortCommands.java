package io.vswitch.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vswitch.control.ControlException;
import io.vswitch.control.JsonLines;
import io.vswitch.daemon.PortSpec;
import java.util.List;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** Port commands: add-port, del-port, set-port, list-ports. */
final class PortCommands {
    private PortCommands() {
    }

    /** Either an access VLAN or a trunk (with optional native VLAN) or back to untagged. */
    static final class VlanMode {
        @Option(names = "--vlan", paramLabel = "V", description = "Access port in VLAN V (1-4094): untagged frames only.")
        Integer vlan;

        @Option(names = "--trunk", paramLabel = "V1,V2", split = ",", description = "Trunk port carrying these VLANs tagged.")
        List<Integer> trunk;
    }

    @Command(name = "add-port", mixinStandardHelpOptions = true, description = "Add a port to the running switch.")
    static final class AddPort extends ClientCommand {
        @Parameters(paramLabel = "NAME", description = "Port name (for a TAP or system port, the interface name).")
        String name;

        @Option(names = "--type", required = true, paramLabel = "TYPE", description = "tap, vm-stream, vm-dgram, system (an existing interface: a NIC, a veth), vhost-user or vxlan.")
        String type;

        @Option(names = "--queues", paramLabel = "N", description = "Queues of a TAP or system port, queue pairs of a vhost-user port (1-16), one datapath thread each (or spread over the daemon's --datapath-threads pool).")
        Integer queues;

        @ArgGroup(exclusive = true)
        VlanMode vlans;

        @Option(names = "--native", paramLabel = "V", description = "Native (untagged) VLAN of a trunk.")
        Integer nativeVlan;

        @Option(names = "--mtu", paramLabel = "M", description = "MTU to set on the TAP; for vxlan the inner MTU"
                + " (default: the underlay MTU minus the outer headers).")
        Integer mtu;

        @Option(names = "--netns", paramLabel = "NS", description = "Move the TAP into this network namespace;"
                + " for vxlan, the namespace whose network carries the tunnel.")
        String netns;

        @Option(names = "--mac", paramLabel = "MAC", description = "MAC address to set on the TAP.")
        String mac;

        @Option(names = "--path", paramLabel = "SOCKET", description = "Unix socket of a VM port.")
        String path;

        @Option(names = "--peer", paramLabel = "SOCKET", description = "QEMU's own socket (vm-dgram).")
        String peer;

        @Option(names = "--mode", paramLabel = "client|server", description = "vhost-user: client (default; QEMU serves"
                + " the socket, vswitch connects and reconnects) or server (vswitch serves it).")
        String mode;

        @Option(names = "--owner", paramLabel = "USER", description = "vhost-user server mode: owner of the socket file.")
        String owner;

        @Option(names = "--group", paramLabel = "GROUP", description = "vhost-user server mode: group of the socket file.")
        String group;

        @Option(names = "--socket-mode", paramLabel = "MODE", description = "vhost-user server mode: octal permissions of"
                + " the socket file, e.g. 0660.")
        String socketMode;

        @Option(names = "--vni", paramLabel = "N", description = "VXLAN network identifier (0-16777215).")
        Integer vni;

        @Option(names = "--local", paramLabel = "ADDR", description = "Local VTEP address (IPv4 or IPv6) of a vxlan port.")
        String local;

        @Option(names = "--remote", paramLabel = "ADDR", description = "A remote VTEP (repeat for each), or 'any' to"
                + " accept and learn any sender.")
        List<String> remotes;

        @Option(names = "--dstport", paramLabel = "PORT", description = "UDP port of the tunnel (default 4789).")
        Integer dstPort;

        @Option(names = "--ttl", paramLabel = "N", description = "Outer TTL / hop limit (default: the kernel's).")
        Integer ttl;

        @Option(names = "--df", paramLabel = "set|unset", description = "Outer IPv4 don't-fragment bit (default unset).")
        String df;

        @Option(names = "--udp-csum", description = "Compute the UDP checksum for IPv4 outers too (IPv6 always has one).")
        boolean udpCsum;

        @Override
        int run() throws ControlException {
            PortSpec spec;
            try {
                spec = new PortSpec(name, type, queues, vlans == null ? null : vlans.vlan,
                        vlans == null ? null : vlans.trunk, nativeVlan, mtu, netns, mac, path, peer, null, null, null,
                        mode, owner, group, socketMode,
                        vni, local, remotes, dstPort, ttl, df, udpCsum ? Boolean.TRUE : null);
            } catch (IllegalArgumentException e) {
                throw new ControlException(ControlException.INVALID_ARGUMENT, e.getMessage());
            }
            ObjectNode args = JsonLines.object(spec);
            JsonNode result = client.call("add-port", args);
            return client.print(result, () -> System.out.println("added port " + result.path("name").asText()
                    + " (" + result.path("type").asText() + ", " + result.path("vlanMode").asText() + ")"));
        }
    }

    @Command(name = "del-port", mixinStandardHelpOptions = true, description = "Remove a port (a TAP the switch created is deleted).")
    static final class DelPort extends ClientCommand {
        @Parameters(paramLabel = "NAME")
        String name;

        @Override
        int run() throws ControlException {
            ObjectNode args = ClientOptions.args().put("name", name);
            JsonNode result = client.call("del-port", args);
            return client.print(result, () -> System.out.println("removed port " + name));
        }
    }

    @Command(name = "set-port", mixinStandardHelpOptions = true, description = "Change a port's VLANs, learning, flooding or admin"
            + " state, or a vxlan port's remotes, TTL, DF or UDP checksums (the vxlan port is reopened: learned remote MACs are forgotten).")
    static final class SetPort extends ClientCommand {
        @Parameters(paramLabel = "NAME")
        String name;

        @ArgGroup(exclusive = true)
        VlanMode vlans;

        @Option(names = "--native", paramLabel = "V", description = "Native (untagged) VLAN of a trunk.")
        Integer nativeVlan;

        @Option(names = "--untagged", description = "Back to the default: all VLANs, untagged frames in VLAN 0.")
        boolean untagged;

        @Option(names = "--learning", arity = "1", paramLabel = "on|off", converter = OnOff.class, description = "Learn source addresses.")
        Boolean learning;

        @Option(names = "--flooding", arity = "1", paramLabel = "on|off", converter = OnOff.class, description = "Receive flooded frames.")
        Boolean flooding;

        @Option(names = "--admin", paramLabel = "up|down", description = "Administrative state.")
        String admin;

        @Option(names = "--remote", paramLabel = "ADDR", description = "vxlan: the new remote VTEPs (repeat for each; replaces"
                + " the list), or 'any'.")
        List<String> remotes;

        @Option(names = "--ttl", paramLabel = "N", description = "vxlan: outer TTL / hop limit.")
        Integer ttl;

        @Option(names = "--df", paramLabel = "set|unset", description = "vxlan: outer IPv4 don't-fragment bit.")
        String df;

        @Option(names = "--udp-csum", arity = "1", paramLabel = "on|off", converter = OnOff.class,
                description = "vxlan: UDP checksums for IPv4 outers (on lets super-frames leave as one UDP GSO send).")
        Boolean udpCsum;

        @Override
        int run() throws ControlException {
            ObjectNode args = ClientOptions.args().put("name", name);
            if (remotes != null) {
                ArrayNode list = args.putArray("remotes");
                remotes.forEach(list::add);
            }
            if (ttl != null) {
                args.put("ttl", ttl);
            }
            if (df != null) {
                args.put("df", df);
            }
            if (udpCsum != null) {
                args.put("udpCsum", udpCsum);
            }
            if (untagged) {
                args.put("untagged", true);
            }
            if (vlans != null && vlans.vlan != null) {
                args.put("vlan", vlans.vlan);
            }
            if (vlans != null && vlans.trunk != null) {
                ArrayNode trunk = args.putArray("trunk");
                vlans.trunk.forEach(trunk::add);
            }
            if (nativeVlan != null) {
                args.put("native", nativeVlan);
            }
            if (learning != null) {
                args.put("learning", learning);
            }
            if (flooding != null) {
                args.put("flooding", flooding);
            }
            if (admin != null) {
                args.put("admin", admin);
            }
            JsonNode result = client.call("set-port", args);
            return client.print(result, () -> System.out.println("port " + name + ": " + result.path("vlanMode").asText()
                    + ", learning " + onOff(result.path("learning").asBoolean())
                    + ", flooding " + onOff(result.path("flooding").asBoolean())
                    + ", admin " + result.path("admin").asText()));
        }
    }

    @Command(name = "list-ports", mixinStandardHelpOptions = true, description = "List port names and kinds.")
    static final class ListPorts extends ClientCommand {
        @Override
        int run() throws ControlException {
            JsonNode result = client.call("list-ports", ClientOptions.args()).path("ports");
            return client.print(result, () -> {
                for (JsonNode p : result) {
                    System.out.println(p.path("name").asText() + "\t" + p.path("type").asText());
                }
            });
        }
    }

    static String onOff(boolean value) {
        return value ? "on" : "off";
    }

    /** Converts on/off (and true/false, yes/no). */
    static final class OnOff implements picocli.CommandLine.ITypeConverter<Boolean> {
        @Override
        public Boolean convert(String value) {
            switch (value.toLowerCase(java.util.Locale.ROOT)) {
                case "on", "true", "yes" -> {
                    return true;
                }
                case "off", "false", "no" -> {
                    return false;
                }
                default -> throw new picocli.CommandLine.TypeConversionException("'" + value + "' is not on or off");
            }
        }
    }
}
