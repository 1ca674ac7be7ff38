package io.vswitch.tap;

import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;
import org.opentest4j.TestAbortedException;

/** A missing kernel requirement skips a test on a developer's machine and fails it in CI (issue 8). */
class KernelSandboxTest {

    @Test
    void aMissingRequirementSkipsUnlessRequired() {
        assertThrows(TestAbortedException.class, () -> KernelSandbox.require(false, "no tun", false));
    }

    @Test
    void aMissingRequirementFailsWhenRequired() {
        assertThrows(AssertionFailedError.class, () -> KernelSandbox.require(false, "no tun", true));
    }

    @Test
    void aMetRequirementDoesNothing() {
        KernelSandbox.require(true, "tun", true);
    }
}
