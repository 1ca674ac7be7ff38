package io.vswitch.core.frame;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Leak detection for frames: with {@code -Dvswitch.leakDetection=true} every frame attached to a
 * buffer is remembered, with the stack that attached it, until it is released; whatever is still
 * attached when a test (or the daemon) ends is a leak and is reported with where it was allocated.
 * Every test of every module runs with it on (the parent pom sets the property, and the test
 * extension in vswitch-core's test jar checks after each test); the daemon accepts the same property
 * and reports leaks when it stops.
 *
 * <p>Off in production: {@link #ENABLED} is a static final flag, so the checks in {@link Frame}
 * compile away and nothing is recorded.
 *
 * <p><b>Threads.</b> Any thread may attach and release frames; the registry is a concurrent map
 * keyed by frame identity, written only in this mode.
 */
public final class FrameLeaks {
    /** The system property that switches leak detection on. */
    public static final String PROPERTY = "vswitch.leakDetection";
    /** Whether leak detection is on in this JVM; read once at class load. */
    public static final boolean ENABLED = Boolean.getBoolean(PROPERTY);

    private static final Map<Frame, Allocation> LIVE = new ConcurrentHashMap<>();
    private static final AtomicLong SEQUENCE = new AtomicLong();
    private static final AtomicInteger PAUSES = new AtomicInteger();
    /** Stack frames shown per allocation site. */
    private static final int SITE_FRAMES = 16;

    private FrameLeaks() {
    }

    /** One frame attached and not yet released: when, on which thread, from where. */
    public record Allocation(long sequence, String thread, Throwable site) {
        /** The allocation site as text: the caller's frames, without the leak detector's and the test runner's. */
        public String describe() {
            StringBuilder text = new StringBuilder("frame allocated on thread ").append(thread)
                    .append(" and never released, at:\n");
            int shown = 0;
            for (StackTraceElement e : site.getStackTrace()) {
                String cls = e.getClassName();
                if (cls.equals(FrameLeaks.class.getName()) || cls.equals(Frame.class.getName())) {
                    continue;
                }
                if (cls.startsWith("org.junit.") || cls.startsWith("jdk.internal.reflect.") || ++shown > SITE_FRAMES) {
                    break;
                }
                text.append("\tat ").append(e).append('\n');
            }
            return text.toString();
        }
    }

    static void attached(Frame frame) {
        if (PAUSES.get() == 0) {
            LIVE.put(frame, new Allocation(SEQUENCE.incrementAndGet(), Thread.currentThread().getName(),
                    new Throwable("allocated here")));
        }
    }

    static void released(Frame frame) {
        LIVE.remove(frame);
    }

    /**
     * Stops recording new allocations until the returned handle is closed, for tests that measure
     * the data path's own heap allocation (recording allocates). Frames already recorded stay
     * recorded and are still checked.
     */
    public static AutoCloseable pause() {
        PAUSES.incrementAndGet();
        return PAUSES::decrementAndGet;
    }

    /** A position in the allocation sequence, to ask later what was allocated after it. */
    public static long mark() {
        return SEQUENCE.get();
    }

    /** Frames allocated after {@code mark} and still attached, oldest first. */
    public static List<Frame> liveSince(long mark) {
        List<Frame> out = new ArrayList<>();
        LIVE.forEach((frame, allocation) -> {
            if (allocation.sequence() > mark) {
                out.add(frame);
            }
        });
        out.sort(Comparator.comparingLong(f -> sequenceOf(f)));
        return out;
    }

    private static long sequenceOf(Frame frame) {
        Allocation a = LIVE.get(frame);
        return a == null ? Long.MAX_VALUE : a.sequence();
    }

    /** The allocation of {@code frame} if it is still attached since that allocation, else null. */
    public static Allocation allocation(Frame frame) {
        return LIVE.get(frame);
    }

    /** Forgets {@code frame} (after it has been reported, so one leak is reported once). */
    public static void forget(Frame frame) {
        LIVE.remove(frame);
    }

    /**
     * Every frame still attached, described with its allocation site, and forgets them; empty when
     * there is none or when leak detection is off. For the daemon to call once everything that could
     * hold a frame has stopped.
     */
    public static List<String> drainReport() {
        List<String> out = new ArrayList<>();
        for (Frame frame : liveSince(Long.MIN_VALUE)) {
            Allocation a = LIVE.remove(frame);
            if (a != null) {
                out.add(a.describe());
            }
        }
        return out;
    }
}
