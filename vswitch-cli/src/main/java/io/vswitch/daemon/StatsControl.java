package io.vswitch.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import io.vswitch.control.ControlException;
import io.vswitch.core.frame.DropReason;
import io.vswitch.core.port.PortCounters;
import io.vswitch.core.port.QueueCounters;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** {@code stats}: per-queue counters of one port or all, with drops by reason. */
final class StatsControl {
    private final Vswitchd daemon;

    StatsControl(Vswitchd daemon) {
        this.daemon = daemon;
    }

    Object stats(JsonNode args) throws ControlException {
        synchronized (daemon.lock()) {
            List<Map<String, Object>> out = new ArrayList<>();
            for (PortRegistry.Entry e : ControlArgs.portOrAll(daemon, args)) {
                PortCounters c = e.bridgePort.counters();
                List<Map<String, Object>> queues = new ArrayList<>();
                for (int q = 0; q < c.queueCount(); q++) {
                    queues.add(queue(q, c.queue(q)));
                }
                Map<String, Object> port = new LinkedHashMap<>();
                port.put("port", e.spec.name());
                port.put("queues", queues);
                out.add(port);
            }
            return out;
        }
    }

    private static Map<String, Object> queue(int q, QueueCounters qc) {
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("queue", q);
        row.put("rxPackets", qc.rxPackets());
        row.put("rxBytes", qc.rxBytes());
        row.put("txPackets", qc.txPackets());
        row.put("txBytes", qc.txBytes());
        row.put("rxGsoFrames", qc.rxGso());
        row.put("txSegmented", qc.txSegmented());
        row.put("rxNoBuffer", qc.rxNoBuffer());
        Map<String, Long> drops = new LinkedHashMap<>();
        for (DropReason r : DropReason.values()) {
            long n = qc.drops(r);
            if (n != 0) {
                drops.put(r.label(), n);
            }
        }
        row.put("drops", drops);
        return row;
    }
}
