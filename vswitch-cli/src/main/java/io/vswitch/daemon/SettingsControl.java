package io.vswitch.daemon;

import static io.vswitch.daemon.ControlArgs.invalid;

import com.fasterxml.jackson.databind.JsonNode;
import io.vswitch.control.ControlException;
import io.vswitch.core.fdb.Fdb;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** {@code set-ageing}, {@code set-limits}: switch-wide FDB settings, live and persisted. */
final class SettingsControl {
    private final Vswitchd daemon;

    SettingsControl(Vswitchd daemon) {
        this.daemon = daemon;
    }

    Object setAgeing(JsonNode args) throws ControlException {
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

    Object setLimits(JsonNode args) throws ControlException {
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
}
