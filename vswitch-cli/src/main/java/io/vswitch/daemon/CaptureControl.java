package io.vswitch.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import io.vswitch.capture.PortCaptures;
import io.vswitch.control.ControlException;

/** {@code capture}: opens a capture session on a port; the control server streams it (pcap) to the client. */
final class CaptureControl {
    private final Vswitchd daemon;

    CaptureControl(Vswitchd daemon) {
        this.daemon = daemon;
    }

    Object capture(JsonNode args) throws ControlException {
        long count = args.path("count").asLong(0);
        if (count < 0) {
            throw ControlArgs.invalid("count must be positive (or left out to capture until interrupted)");
        }
        synchronized (daemon.lock()) {
            return PortCaptures.open(ControlArgs.port(daemon, ControlArgs.text(args, "port")).bridgePort, count);
        }
    }
}
