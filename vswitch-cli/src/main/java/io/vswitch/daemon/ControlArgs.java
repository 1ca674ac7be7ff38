package io.vswitch.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import io.vswitch.control.ControlException;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Reading and validating control-command arguments: every refusal names what is wrong and how to
 * fix it, with a stable {@link ControlException} code for scripts.
 */
final class ControlArgs {
    private static final Pattern MAC = Pattern.compile("([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}");

    private ControlArgs() {
    }

    /** The running port {@code name}, or NO_SUCH_PORT listing the ports there are. Call under the daemon's lock. */
    static PortRegistry.Entry port(Vswitchd daemon, String name) throws ControlException {
        PortRegistry.Entry e = daemon.registry().get(name);
        if (e == null) {
            List<String> names = daemon.registry().all().stream().map(x -> x.spec.name()).toList();
            throw new ControlException(ControlException.NO_SUCH_PORT, "no port named '" + name + "'; ports are: "
                    + (names.isEmpty() ? "(none: add one with 'vswitch add-port NAME --type tap')" : String.join(", ", names)));
        }
        return e;
    }

    /** The optional "port" filter: that one port, or every port. Call under the daemon's lock. */
    static List<PortRegistry.Entry> portOrAll(Vswitchd daemon, JsonNode args) throws ControlException {
        return args.hasNonNull("port") ? List.of(port(daemon, args.get("port").asText())) : daemon.registry().all();
    }

    static String text(JsonNode args, String key) throws ControlException {
        JsonNode v = args.get(key);
        if (v == null || !v.isTextual() || v.asText().isEmpty()) {
            throw invalid("missing \"" + key + "\"");
        }
        return v.asText();
    }

    static Boolean bool(JsonNode args, String key) {
        return args.hasNonNull(key) ? args.get(key).asBoolean() : null;
    }

    static boolean adminUp(String state) {
        if (state.equals("up")) {
            return true;
        }
        if (state.equals("down")) {
            return false;
        }
        throw new IllegalArgumentException("admin state '" + state + "' is not valid: use up or down");
    }

    static int vlan(JsonNode args) throws ControlException {
        int vlan = args.path("vlan").asInt(0);
        if (vlan < 0 || vlan > 4094) {
            throw invalid("VLAN " + vlan + " is out of range: use 1-4094, or leave it out for untagged");
        }
        return vlan;
    }

    static long mac(String text) throws ControlException {
        if (!MAC.matcher(text).matches()) {
            throw invalid("MAC '" + text + "' is not valid: use six hex pairs like 02:00:00:00:00:01");
        }
        return Macs.parse(text);
    }

    static ControlException invalid(String message) {
        return new ControlException(ControlException.INVALID_ARGUMENT, message);
    }

    static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null) {
            t = t.getCause();
        }
        return t.getMessage();
    }
}
