package io.vswitch.core.testing;

import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameLeaks;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Fails a test that leaves a frame attached, naming where the frame was allocated. Registered for
 * every test of every module that has vswitch-core's test jar on its test class path: the jar's
 * {@code META-INF/services} lists it, and the parent pom switches on JUnit's extension autodetection
 * and {@link FrameLeaks} (system properties of surefire and failsafe). Does nothing when leak
 * detection is off.
 *
 * <p>Frames allocated during a test are checked after its {@code @AfterEach} methods; frames
 * allocated in {@code @BeforeAll} or by threads outliving single tests are checked after the class's
 * {@code @AfterAll}. A frame another thread is still handling when the test ends gets a short grace
 * to be released (a datapath thread finishing its batch); one that is still attached after it is a
 * leak.
 */
public final class LeakCheckExtension implements BeforeAllCallback, AfterAllCallback, BeforeEachCallback, AfterEachCallback {
    private static final ExtensionContext.Namespace NAMESPACE = ExtensionContext.Namespace.create(LeakCheckExtension.class);
    private static final long GRACE_NANOS = TimeUnit.SECONDS.toNanos(2);
    private static final int REPORTED = 5;

    @Override
    public void beforeAll(ExtensionContext context) {
        context.getStore(NAMESPACE).put("mark", FrameLeaks.mark());
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        context.getStore(NAMESPACE).put("mark", FrameLeaks.mark());
    }

    @Override
    public void afterEach(ExtensionContext context) {
        check(context, "test " + context.getDisplayName());
    }

    @Override
    public void afterAll(ExtensionContext context) {
        check(context, "test class " + context.getDisplayName() + " (after @AfterAll)");
    }

    private static void check(ExtensionContext context, String what) {
        if (!FrameLeaks.ENABLED) {
            return;
        }
        Long mark = context.getStore(NAMESPACE).get("mark", Long.class);
        // The allocations live now; one is resolved once its frame is released (or re-attached anew).
        Map<Frame, FrameLeaks.Allocation> live = new IdentityHashMap<>();
        for (Frame frame : FrameLeaks.liveSince(mark == null ? Long.MIN_VALUE : mark)) {
            FrameLeaks.Allocation allocation = FrameLeaks.allocation(frame);
            if (allocation != null) {
                live.put(frame, allocation);
            }
        }
        long deadline = System.nanoTime() + GRACE_NANOS;
        while (true) {
            live.entrySet().removeIf(e -> FrameLeaks.allocation(e.getKey()) != e.getValue());
            if (live.isEmpty() || System.nanoTime() > deadline) {
                break;
            }
            sleep();
        }
        StringBuilder report = new StringBuilder();
        int leaked = 0;
        for (Map.Entry<Frame, FrameLeaks.Allocation> e : live.entrySet()) {
            FrameLeaks.forget(e.getKey());
            if (++leaked <= REPORTED) {
                report.append('\n').append(e.getValue().describe());
            }
        }
        if (leaked > 0) {
            throw new AssertionError(leaked + " frame(s) leaked by " + what + " (never released); "
                    + Math.min(leaked, REPORTED) + " shown:" + report);
        }
    }

    private static void sleep() {
        try {
            Thread.sleep(10);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted while waiting for frames to be released", e);
        }
    }
}
