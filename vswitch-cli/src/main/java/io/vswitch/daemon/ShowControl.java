package io.vswitch.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import io.vswitch.core.fdb.Fdb;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** {@code show} (alias {@code list-ports}): every port and the FDB's totals and limits. */
final class ShowControl {
    private final Vswitchd daemon;

    ShowControl(Vswitchd daemon) {
        this.daemon = daemon;
    }

    Object show(JsonNode args) {
        synchronized (daemon.lock()) {
            List<Object> ports = new ArrayList<>();
            for (PortRegistry.Entry e : daemon.registry().all()) {
                ports.add(PortView.describe(daemon, e));
            }
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("ports", ports);
            out.put("fdb", fdbSummary(daemon.bridge().fdb()));
            return out;
        }
    }

    private static Map<String, Object> fdbSummary(Fdb fdb) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("learned", fdb.learnedCount());
        out.put("static", fdb.staticCount());
        out.put("maxEntries", fdb.maxEntries());
        out.put("maxPerPort", fdb.maxPerPort());
        out.put("ageingSeconds", TimeUnit.NANOSECONDS.toSeconds(fdb.ageingNanos()));
        out.put("moves", fdb.moves());
        out.put("refusedGlobalLimit", fdb.refusedGlobalLimit());
        out.put("refusedPortLimit", fdb.refusedPortLimit());
        out.put("agedOut", fdb.agedOut());
        return out;
    }
}
