package io.vswitch.core.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectMethod;

import io.vswitch.core.alloc.FragAllocator;
import io.vswitch.core.alloc.NativeAddress;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.frame.FrameLeaks;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.platform.testkit.engine.EngineTestKit;
import org.junit.platform.testkit.engine.Event;
import org.junit.platform.testkit.engine.Events;

/** The leak check is on in this build and fails a test that leaks, naming the allocation site. */
class LeakCheckExtensionTest {

    @Test
    void leakDetectionIsOnInEveryTestRun() {
        assertTrue(FrameLeaks.ENABLED, "surefire must run tests with -D" + FrameLeaks.PROPERTY + "=true");
    }

    @Test
    void aTestThatLeaksAFrameFailsAndNamesWhereItWasAllocated() {
        Events tests = run("leaksOneFrame");
        assertEquals(1, tests.failed().count(), "the leaking test must fail");
        Throwable failure = failure(tests.failed().list());
        String message = failure.getMessage();
        assertTrue(message.startsWith("1 frame(s) leaked by test leaksOneFrame()"), message);
        assertTrue(message.contains("LeakCheckExtensionTest$LeakingCases.leaksOneFrame"), "allocation site named: " + message);
    }

    @Test
    void aTestThatReleasesEverythingPasses() {
        Events tests = run("releasesItsFrame");
        assertEquals(1, tests.succeeded().count());
        assertEquals(0, tests.failed().count());
    }

    private static Events run(String method) {
        return EngineTestKit.engine("junit-jupiter")
                .configurationParameter("junit.jupiter.extensions.autodetection.enabled", "true")
                .selectors(selectMethod(LeakingCases.class, method))
                .execute()
                .testEvents();
    }

    private static Throwable failure(List<Event> failed) {
        return failed.get(0).getPayload(org.junit.platform.engine.TestExecutionResult.class)
                .flatMap(org.junit.platform.engine.TestExecutionResult::getThrowable)
                .orElseThrow();
    }

    /** Run only through the test kit above (surefire skips nested classes). */
    static class LeakingCases {
        private final FragAllocator allocator = new FragAllocator(NativeAddress.NONE);

        @Test
        void leaksOneFrame() {
            allocator.allocate(new Frame(), 60);
        }

        @Test
        void releasesItsFrame() {
            Frame frame = new Frame();
            allocator.allocate(frame, 60);
            frame.release();
        }
    }
}
