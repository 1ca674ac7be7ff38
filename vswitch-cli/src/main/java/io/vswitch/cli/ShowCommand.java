package io.vswitch.cli;

import java.util.ArrayList;
import java.util.List;
import com.fasterxml.jackson.databind.JsonNode;
import io.vswitch.control.ControlException;
import picocli.CommandLine.Command;

/** {@code vswitch show}: ports, their state and counters, and the FDB summary. */
@Command(name = "show", mixinStandardHelpOptions = true, description = "Show ports, their state and counters.")
final class ShowCommand extends ClientCommand {
    @Override
    int run() throws ControlException {
        JsonNode result = client.call("show", ClientOptions.args());
        return client.print(result, () -> {
            Table t = new Table("PORT", "TYPE", "Q", "VLAN", "LINK", "ADMIN", "RX-PKTS", "RX-BYTES", "TX-PKTS", "TX-BYTES", "DROPS");
            for (JsonNode p : result.path("ports")) {
                long drops = 0;
                for (JsonNode n : p.path("drops")) {
                    drops += n.asLong();
                }
                t.row(p.path("name").asText(), p.path("type").asText(), p.path("queues").asInt(),
                        p.path("vlanMode").asText(), p.path("link").asText(), p.path("admin").asText(),
                        p.path("rxPackets").asLong(), p.path("rxBytes").asLong(), p.path("txPackets").asLong(),
                        p.path("txBytes").asLong(), drops);
            }
            System.out.print(t);
            for (JsonNode p : result.path("ports")) {
                if (p.path("threadDeaths").asLong() > 0 || !p.path("datapath").asText("running").equals("running")) {
                    System.out.println(p.path("name").asText() + ": datapath " + p.path("datapath").asText() + ", "
                            + p.path("threadDeaths").asLong() + " thread deaths, " + p.path("threadRestarts").asLong()
                            + " restarts" + (p.hasNonNull("lastThreadFailure") ? "; last: " + p.path("lastThreadFailure").asText() : ""));
                }
                if (p.hasNonNull("qemu")) {
                    System.out.println(p.path("name").asText() + ": qemu " + p.path("qemu").asText());
                }
                if (p.hasNonNull("qemuNote")) {
                    System.out.println(p.path("name").asText() + ": " + p.path("qemuNote").asText());
                }
                JsonNode vx = p.path("vxlan");
                if (!vx.isMissingNode()) {
                    List<String> remotes = new ArrayList<>();
                    vx.path("remotes").forEach(r -> remotes.add(r.asText()));
                    if (vx.path("acceptsAnyRemote").asBoolean()) {
                        remotes.add("any");
                    }
                    System.out.println(p.path("name").asText() + ": vxlan vni " + vx.path("vni").asInt() + " local "
                            + vx.path("local").asText() + " port " + vx.path("dstPort").asInt() + " remotes "
                            + String.join(",", remotes) + "; underlay MTU " + vx.path("underlayMtu").asInt()
                            + ", inner MTU " + vx.path("innerMtu").asInt() + " (give tenants this MTU)"
                            + (vx.path("networkDrops").isEmpty() ? "" : "; network drops " + vx.path("networkDrops")));
                }
            }
            JsonNode fdb = result.path("fdb");
            System.out.println("fdb: " + fdb.path("learned").asInt() + " learned, " + fdb.path("static").asInt()
                    + " static, limit " + fdb.path("maxEntries").asInt() + " (" + fdb.path("maxPerPort").asInt()
                    + " per port), ageing " + fdb.path("ageingSeconds").asLong() + " s, moves " + fdb.path("moves").asLong());
        });
    }
}
