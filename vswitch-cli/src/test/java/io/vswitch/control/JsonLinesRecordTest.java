package io.vswitch.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.vswitch.daemon.PortSpec;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link JsonLines#object(Record)} writes what the daemon's ObjectMapper writes and reads for the same
 * record, so the CLI's hand-off without an ObjectMapper cannot drift from the daemon's mapping.
 */
class JsonLinesRecordTest {

    @Test
    void portSpecsComeOutAsTheObjectMapperWritesThemAndReadBack() throws Exception {
        List<PortSpec> specs = List.of(
                PortSpec.parse("tap:t0"),
                PortSpec.parse("tap:t1,queues=4,trunk=10+20,native=10,mtu=9000,netns=ns1,mac=02:00:00:00:00:01"),
                new PortSpec("v0", "vhost-user", 2, 30, null, null, null, null, null, "/tmp/v0.sock", null,
                        null, null, null, "server", "root", "kvm", "0660",
                        null, null, null, null, null, null, null),
                new PortSpec("x0", "vxlan", null, 5, null, null, null, null, null, null, null,
                        null, null, null, null, null, null, null,
                        42, "198.18.0.1", List.of("198.18.0.2", "198.18.0.3"), 4790, 32, "set", true));
        for (PortSpec spec : specs) {
            assertEquals(Protocol.JSON.valueToTree(spec), JsonLines.object(spec), spec::toString);
            assertEquals(spec, Protocol.JSON.treeToValue(JsonLines.object(spec), PortSpec.class));
        }
    }

    @Test
    void aComponentWithoutAJsonFormIsRefused() {
        record Odd(String name, double weight) {
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> JsonLines.object(new Odd("a", 1.5)));
        assertEquals("component weight of type java.lang.Double has no JSON form here", e.getMessage());
    }
}
