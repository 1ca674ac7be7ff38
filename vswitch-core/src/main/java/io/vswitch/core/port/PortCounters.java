package io.vswitch.core.port;

import io.vswitch.core.frame.DropReason;
import java.util.EnumMap;
import java.util.Map;

/** Counters of a port: one {@link QueueCounters} per queue, summed on read. */
public final class PortCounters {
    private final QueueCounters[] queues;

    public PortCounters(int queueCount) {
        queues = new QueueCounters[queueCount];
        for (int i = 0; i < queueCount; i++) {
            queues[i] = new QueueCounters();
        }
    }

    public QueueCounters queue(int index) {
        return queues[index];
    }

    public int queueCount() {
        return queues.length;
    }

    public long rxPackets() {
        long s = 0;
        for (QueueCounters q : queues) {
            s += q.rxPackets();
        }
        return s;
    }

    public long rxBytes() {
        long s = 0;
        for (QueueCounters q : queues) {
            s += q.rxBytes();
        }
        return s;
    }

    public long rxGso() {
        long s = 0;
        for (QueueCounters q : queues) {
            s += q.rxGso();
        }
        return s;
    }

    public long rxNoBuffer() {
        long s = 0;
        for (QueueCounters q : queues) {
            s += q.rxNoBuffer();
        }
        return s;
    }

    public long txPackets() {
        long s = 0;
        for (QueueCounters q : queues) {
            s += q.txPackets();
        }
        return s;
    }

    public long txBytes() {
        long s = 0;
        for (QueueCounters q : queues) {
            s += q.txBytes();
        }
        return s;
    }

    public long txSegmented() {
        long s = 0;
        for (QueueCounters q : queues) {
            s += q.txSegmented();
        }
        return s;
    }

    public long drops(DropReason reason) {
        long s = 0;
        for (QueueCounters q : queues) {
            s += q.drops(reason);
        }
        return s;
    }

    /** Non-zero drop counts by reason (cold path). */
    public Map<DropReason, Long> dropsByReason() {
        Map<DropReason, Long> out = new EnumMap<>(DropReason.class);
        for (DropReason r : DropReason.values()) {
            long n = drops(r);
            if (n != 0) {
                out.put(r, n);
            }
        }
        return out;
    }
}
