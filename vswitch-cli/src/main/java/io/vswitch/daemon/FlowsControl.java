package io.vswitch.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import io.vswitch.control.ControlException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** {@code flows}: the flow-to-queue table of one port or all. */
final class FlowsControl {
    private final Vswitchd daemon;

    FlowsControl(Vswitchd daemon) {
        this.daemon = daemon;
    }

    Object flows(JsonNode args) throws ControlException {
        synchronized (daemon.lock()) {
            List<Map<String, Object>> rows = new ArrayList<>();
            long now = System.nanoTime();
            for (PortRegistry.Entry e : ControlArgs.portOrAll(daemon, args)) {
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
}
