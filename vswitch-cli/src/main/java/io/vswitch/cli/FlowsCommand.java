package io.vswitch.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vswitch.control.ControlException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code vswitch flows}: the flow-steering tables (flow hash to queue). */
@Command(name = "flows", mixinStandardHelpOptions = true, description = "Show the flow-steering table: flow hash, queue, age.")
final class FlowsCommand extends ClientCommand {
    @Option(names = "--port", paramLabel = "P")
    String port;

    @Override
    int run() throws ControlException {
        ObjectNode args = ClientOptions.args();
        if (port != null) {
            args.put("port", port);
        }
        JsonNode result = client.call("flows", args);
        return client.print(result, () -> {
            Table t = new Table("PORT", "HASH", "QUEUE", "AGE");
            for (JsonNode f : result) {
                t.row(f.path("port").asText(), f.path("hash").asText(), f.path("queue").asInt(), f.path("ageMillis").asLong() + "ms");
            }
            System.out.print(t);
        });
    }
}
