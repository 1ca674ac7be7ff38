package io.vswitch.linux;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.netty.channel.epoll.NettyEpollWait;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.util.Arrays;
import jnr.enxio.channels.NativeDeviceChannel;
import jnr.enxio.channels.NativeSelectorProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Cost of one epoll_wait round trip with one ready fd (an eventfd that is never drained), through
 * {@link Epoll}, Netty's JNI binding and jnr-enxio's Selector. Not a JMH benchmark, so read the
 * numbers as rough; it is skipped unless run with {@code -Dvswitch.bench=true}, e.g.
 * {@code mvn -o -pl vswitch-native test -Dtest=EpollBenchmarkTest -Dvswitch.bench=true}.
 */
@EnabledIfSystemProperty(named = "vswitch.bench", matches = "true")
class EpollBenchmarkTest {

    private static final int WARMUP = 300_000;
    private static final int ROUNDS = 7;
    private static final int CALLS = 500_000;
    private static final LibC LIBC = LibC.INSTANCE;

    @FunctionalInterface
    private interface Wait {
        int once() throws Exception;
    }

    @Test
    void compareEpollWaitBindings() throws Exception {
        try (NativeBuffer one = new NativeBuffer(8)) {
            one.putLong(0, 1);
            int ours = readyEventfd(one);
            int netty = readyEventfd(one);
            int enxio = readyEventfd(one);
            try (Epoll epoll = new Epoll(16);
                    NettyEpollWait nettyWait = new NettyEpollWait(netty);
                    Selector selector = NativeSelectorProvider.getInstance().openSelector();
                    NativeDeviceChannel channel = new NativeDeviceChannel(enxio)) { // owns and closes enxio's fd
                epoll.add(ours, LibC.EPOLLIN, 0);
                channel.configureBlocking(false);
                channel.register(selector, SelectionKey.OP_READ);
                // Interleave the three so that frequency drift or noise hits them alike.
                for (int round = 0; round < 2; round++) {
                    measure("jnr-ffi Epoll.await(0)", () -> epoll.await(0), round);
                    measure("Netty Native.epollWait(0)", nettyWait::waitNow, round);
                    measure("jnr-enxio Selector.selectNow()", () -> {
                        int n = selector.selectNow();
                        selector.selectedKeys().clear();
                        return n;
                    }, round);
                }
            } finally {
                LIBC.close(ours);
                LIBC.close(netty);
            }
        }
    }

    private static int readyEventfd(NativeBuffer one) {
        int fd = LIBC.eventfd(0, LibC.EFD_NONBLOCK | LibC.EFD_CLOEXEC);
        assertEquals(8, LIBC.write(fd, one.address(), 8));
        return fd;
    }

    private static void measure(String what, Wait wait, int pass) throws Exception {
        for (int i = 0; i < WARMUP; i++) {
            assertEquals(1, wait.once());
        }
        double[] nanosPerCall = new double[ROUNDS];
        long allocated = 0;
        for (int r = 0; r < ROUNDS; r++) {
            long bytes = Allocations.allocatedBytes();
            long start = System.nanoTime();
            for (int i = 0; i < CALLS; i++) {
                wait.once();
            }
            nanosPerCall[r] = (System.nanoTime() - start) / (double) CALLS;
            allocated += Allocations.allocatedBytes() - bytes;
        }
        Arrays.sort(nanosPerCall);
        System.out.printf("pass %d  %-32s min %6.0f ns  median %6.0f ns  %6.1f B/call%n", pass, what,
                nanosPerCall[0], nanosPerCall[ROUNDS / 2], allocated / (double) ROUNDS / CALLS);
    }
}
