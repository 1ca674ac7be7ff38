package io.vswitch.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.core.bridge.Bridge;
import io.vswitch.vm.VmDgramPort;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Shutdown with a port whose close fails as it did when the jar was replaced under a running daemon
 * (a class missing at close): the registry still removes and closes every other port, and reports the
 * failure instead of stopping at it. The ports are real {@link VmDgramPort}s on unix sockets; only the
 * failing close is injected, by a test-only {@link InterposedPort}.
 */
class PortRegistryCloseTest {
    private Path dir;
    private final Map<String, ClosingPort> ports = new LinkedHashMap<>();

    @BeforeEach
    void openPorts() throws IOException {
        dir = Files.createTempDirectory("vsw-close-");
        for (String name : new String[] {"first", "broken", "last"}) {
            ports.put(name, new ClosingPort(VmDgramPort.open(name, socket(name), dir.resolve(name + "-peer.sock"), null,
                    Duration.ofMillis(20)), name.equals("broken")));
        }
    }

    @AfterEach
    void cleanUp() throws IOException {
        for (ClosingPort port : ports.values()) {
            port.delegate.close();
        }
        try (var files = Files.list(dir)) {
            for (Path p : files.toList()) {
                Files.deleteIfExists(p);
            }
        }
        Files.deleteIfExists(dir);
    }

    private Path socket(String name) {
        return dir.resolve(name + ".sock");
    }

    @Test
    void aPortWhoseCloseFailsDoesNotKeepTheOthersOpenAndIsReported() throws IOException {
        PortRegistry registry = new PortRegistry(new Bridge(), spec -> ports.get(spec.name()), QueueSupervisor.Policy.DEFAULT);
        for (String name : ports.keySet()) {
            registry.add(PortSpec.parse("vm-dgram:" + name + ",path=" + socket(name) + ",peer="
                    + dir.resolve(name + "-peer.sock")));
        }

        IllegalStateException failed = assertThrows(IllegalStateException.class, registry::close);
        assertTrue(failed.getMessage().contains("port broken could not be removed"), failed.getMessage());
        assertEquals(1, failed.getSuppressed().length);
        assertInstanceOf(NoClassDefFoundError.class, failed.getSuppressed()[0]);

        assertTrue(ports.get("first").closed, "the port before the failing one is closed");
        assertTrue(ports.get("last").closed, "the port after the failing one is closed too");
        assertFalse(Files.exists(socket("last")), "and its socket file removed");
        assertTrue(registry.all().isEmpty(), "every port is out of the registry");
    }

    /** A real port; the one marked failing throws from close as a missing class would, before closing. */
    private static final class ClosingPort extends InterposedPort {
        private final boolean failing;
        volatile boolean closed;

        ClosingPort(VmDgramPort delegate, boolean failing) {
            super(delegate);
            this.failing = failing;
        }

        @Override
        public void close() {
            if (failing) {
                throw new NoClassDefFoundError("io/vswitch/vm/InjectedMissingClass");
            }
            closed = true;
            super.close();
        }
    }
}
