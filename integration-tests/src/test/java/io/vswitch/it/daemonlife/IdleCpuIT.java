package io.vswitch.it.daemonlife;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vswitch.it.harness.SwitchTestBase;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * An idle switch sleeps: with one port of every kind attached and no traffic, the daemon uses next
 * to no CPU. A datapath thread whose queue's fd stays ready without anything to do (a timer consumed
 * too late or never, an error condition nobody reads) spins and shows here as a CPU's worth; a VM
 * datagram port's probe timer once did that for part of every period ({@code VmDgramPortTest}).
 * Ports: a TAP in a namespace, a system port on a veth, a VXLAN tunnel behind it, and the three
 * VM kinds waiting for their QEMU (vhost-user, vm-stream listening, vm-dgram probing every second).
 */
class IdleCpuIT extends SwitchTestBase {
    private static final long TICKS_PER_SECOND = 100; // USER_HZ, what /proc/PID/stat counts in
    private static final int IDLE_SECONDS = 5;

    @Test
    void anIdleSwitchWithEveryPortKindUsesNextToNoCpu() throws Exception {
        start();
        host("t", "198.18.77.10/24");

        // A LAN namespace behind a veth: its root-namespace end is the system port, and the VXLAN
        // tunnel's socket lives in the LAN namespace on the far end's address.
        String lanNs = ns.create("lan");
        String lanSide = ns.linkName("l");
        String uplink = rootVeth("u", lanNs, lanSide);
        cli("add-port", uplink, "--type", "system");
        ns.addAddress(lanNs, lanSide, "198.18.78.1/24");
        ns.linkUp(lanNs, lanSide);
        cli("add-port", ns.linkName("vx"), "--type", "vxlan", "--vni", "77", "--local", "198.18.78.1", "--remote",
                "198.18.78.2", "--netns", lanNs);

        Path state = sw.stateDir();
        cli("add-port", ns.linkName("vh"), "--type", "vhost-user", "--path", state.resolve("vm-vh.sock").toString());
        cli("add-port", ns.linkName("vs"), "--type", "vm-stream", "--path", state.resolve("vm-vs.sock").toString());
        cli("add-port", ns.linkName("vd"), "--type", "vm-dgram", "--path", state.resolve("vm-vd.sock").toString(),
                "--peer", state.resolve("qemu-vd.sock").toString());

        sleep(2000); // past start-up work: JIT, the first probes, link events
        long before = cpuTicks(sw.pid());
        sleep(IDLE_SECONDS * 1000L);
        long used = cpuTicks(sw.pid()) - before;
        double share = (double) used / (TICKS_PER_SECOND * IDLE_SECONDS);
        // A spinning thread would be ~100 %; an idle JVM with its housekeeping is well under 1 %.
        assertTrue(share < 0.05, String.format("the idle daemon used %.1f %% of a CPU over %d s (%d ticks)", 100 * share,
                IDLE_SECONDS, used) + "\n" + sw.outputTail());
    }

    /** utime + stime of the whole process, in clock ticks. */
    private static long cpuTicks(long pid) throws IOException {
        String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
        String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(fields[11]) + Long.parseLong(fields[12]); // fields 14 and 15 of proc(5)
    }
}
