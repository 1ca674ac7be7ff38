package io.vswitch.vm.vhost;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLongArray;

/** Counts of {@link VhostEvent}s of one port; any thread counts, readers never lock. */
final class VhostCounters {
    private final AtomicLongArray counts = new AtomicLongArray(VhostEvent.values().length);

    void count(VhostEvent event) {
        counts.incrementAndGet(event.ordinal());
    }

    void add(VhostEvent event, int n) {
        counts.addAndGet(event.ordinal(), n);
    }

    long get(VhostEvent event) {
        return counts.get(event.ordinal());
    }

    /** Non-zero counts by label (cold path). */
    Map<String, Long> nonZero() {
        Map<String, Long> out = new LinkedHashMap<>();
        for (VhostEvent e : VhostEvent.values()) {
            long n = counts.get(e.ordinal());
            if (n != 0) {
                out.put(e.label(), n);
            }
        }
        return out;
    }
}
