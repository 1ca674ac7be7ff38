package io.vswitch.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class QuiescenceTest {

    @Test
    void idleAndUnstartedReadersAreNotWaitedFor() {
        Quiescence q = new Quiescence();
        q.register("never-started");
        Quiescence.Reader sleeper = q.register("sleeper");
        sleeper.busy();
        sleeper.idle();
        assertEquals(0, q.synchronize());
    }

    @Test
    void aBusyReaderIsWaitedForUntilItPassesAQuiescentPoint() throws Exception {
        Quiescence q = new Quiescence();
        Quiescence.Reader reader = q.register("busy");
        reader.busy();
        CompletableFuture<Integer> grace = CompletableFuture.supplyAsync(q::synchronize);
        Thread.sleep(200);
        assertFalse(grace.isDone(), "a grace period must not end while a reader is inside its turn");
        reader.quiescent();
        assertEquals(1, grace.get(5, TimeUnit.SECONDS));
    }

    @Test
    void goingIdleOrEndingAlsoEndsTheWait() throws Exception {
        Quiescence q = new Quiescence();
        Quiescence.Reader a = q.register("a");
        Quiescence.Reader b = q.register("b");
        a.busy();
        b.busy();
        CompletableFuture<Integer> grace = CompletableFuture.supplyAsync(q::synchronize);
        a.idle();
        Thread.sleep(100);
        assertFalse(grace.isDone());
        b.close();
        grace.get(5, TimeUnit.SECONDS);
        assertEquals(1, q.readerCount());
    }

    /**
     * The property removal relies on: after detach + synchronize, no reader still uses what it looked
     * up before. Readers here look up a shared "port" in every turn and check it is not retired while
     * they use it; the writer retires ports only after a grace period.
     */
    @Test
    void nothingRetiredAfterAGracePeriodIsStillInUse() throws Exception {
        Quiescence q = new Quiescence();
        AtomicReference<boolean[]> published = new AtomicReference<>(new boolean[1]);
        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<String> violation = new AtomicReference<>();
        Thread[] readers = new Thread[2];
        for (int t = 0; t < readers.length; t++) {
            Quiescence.Reader reader = q.register("r" + t);
            readers[t] = new Thread(() -> {
                try {
                    while (!stop.get()) {
                        reader.busy();
                        for (int batch = 0; batch < 4; batch++) {
                            boolean[] retired = published.get();
                            for (int spin = 0; spin < 200; spin++) {
                                if (retired[0]) {
                                    violation.set("a reader used a port after it was retired");
                                }
                            }
                            reader.quiescent();
                        }
                        reader.idle();
                    }
                } finally {
                    reader.close();
                }
            });
            readers[t].start();
        }
        for (int i = 0; i < 2000; i++) {
            boolean[] old = published.getAndSet(new boolean[1]);
            q.synchronize();
            old[0] = true;
        }
        stop.set(true);
        for (Thread t : readers) {
            t.join(5000);
        }
        assertEquals(null, violation.get());
        assertEquals(0, q.readerCount());
    }
}
