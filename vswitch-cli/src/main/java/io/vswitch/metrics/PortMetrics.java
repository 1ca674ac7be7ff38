package io.vswitch.metrics;

import io.vswitch.core.bridge.BridgePort;
import java.util.List;

/**
 * What the metrics read of one port besides its bridge counters: taken under the daemon's lock at
 * scrape time (a cold path), then read lock-free.
 *
 * @param wakeups one histogram per queue, in queue order
 */
public record PortMetrics(BridgePort port, long linkLosses, List<WakeupHistogram> wakeups) {
}
