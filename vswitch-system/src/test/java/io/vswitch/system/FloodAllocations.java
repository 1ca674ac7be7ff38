package io.vswitch.system;

import io.vswitch.core.frame.FrameBatch;
import io.vswitch.linux.Allocations;
import io.vswitch.linux.LibC;
import io.vswitch.linux.NativeBuffer;
import java.util.concurrent.atomic.AtomicBoolean;

/** Heap bytes a system queue's receive allocates while the wire side of its veth is flooded. */
final class FloodAllocations {
    private FloodAllocations() {
    }

    /**
     * Floods {@code frame} from the packet socket {@code wire} on its own thread and measures what
     * receiving {@code frames} frames on {@code queue} (each released at once) allocates, with
     * {@link Allocations#bytesForFrames}.
     */
    static long whileReceiving(SystemQueue queue, int wire, byte[] frame, int frames) throws Exception {
        AtomicBoolean stop = new AtomicBoolean();
        Thread sender = new Thread(() -> {
            try (NativeBuffer out = new NativeBuffer(frame.length)) {
                out.put(0, frame, 0, frame.length);
                while (!stop.get()) {
                    LibC.INSTANCE.write(wire, out.address(), frame.length);
                }
            }
        });
        sender.start();
        try {
            FrameBatch batch = new FrameBatch(FrameBatch.DEFAULT_CAPACITY);
            long[] got = new long[1];
            Runnable receive = () -> {
                int n = queue.receive(batch);
                for (int i = 0; i < batch.count(); i++) {
                    batch.get(i).release();
                }
                batch.clear();
                got[0] += Math.max(n, 0);
            };
            return Allocations.bytesForFrames(receive, frames, got);
        } finally {
            stop.set(true);
            sender.join(5000);
        }
    }
}
