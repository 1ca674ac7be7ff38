package io.vswitch.linux;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.kenai.jffi.MemoryIO;
import org.junit.jupiter.api.Test;

/** Descriptors sent with SCM_RIGHTS over a real socket pair arrive as working descriptors. */
class FdPassingTest {
    private static final LibC LIBC = LibC.INSTANCE;
    private static final MemoryIO IO = MemoryIO.getInstance();

    @Test
    void aMemfdSentOverASocketMapsTheSameMemory() throws Exception {
        try (NativeBuffer pair = new NativeBuffer(8); NativeBuffer data = new NativeBuffer(64);
             FdPassing sender = new FdPassing(); FdPassing receiver = new FdPassing()) {
            assertEquals(0, LIBC.socketpair(LibC.AF_UNIX, LibC.SOCK_STREAM | LibC.SOCK_CLOEXEC, 0, pair.address()));
            int a = pair.getInt(0);
            int b = pair.getInt(4);
            int memfd = SharedMemory.createMemfd("vsw-pass", 8192);
            int eventfd = LIBC.eventfd(0, LibC.EFD_CLOEXEC);
            try {
                data.putInt(0, 42);
                assertEquals(12, sender.send(a, data.address(), 12, new int[] {memfd, eventfd}));
                data.putInt(0, 0);
                assertEquals(12, receiver.receive(b, data.address(), 12, 0));
                assertEquals(42, data.getInt(0));
                assertEquals(2, receiver.receivedCount());
                int got = receiver.takeFd(0);
                try (SharedMemory theirs = SharedMemory.map(got, 8192); SharedMemory ours = SharedMemory.map(memfd, 8192)) {
                    IO.putInt(ours.address() + 100, 7);
                    assertEquals(7, IO.getInt(theirs.address() + 100));
                } finally {
                    LIBC.close(got);
                }
                receiver.closeReceived();
                assertEquals(0, receiver.receivedCount());
            } finally {
                LIBC.close(memfd);
                LIBC.close(eventfd);
                LIBC.close(a);
                LIBC.close(b);
            }
        }
    }

    @Test
    void moreDescriptorsThanAllowedAreRefused() throws Exception {
        try (NativeBuffer pair = new NativeBuffer(8); NativeBuffer data = new NativeBuffer(64);
             FdPassing sender = new FdPassing(); FdPassing receiver = new FdPassing()) {
            assertEquals(0, LIBC.socketpair(LibC.AF_UNIX, LibC.SOCK_STREAM | LibC.SOCK_CLOEXEC, 0, pair.address()));
            assertThrows(IllegalArgumentException.class, () -> sender.send(pair.getInt(0), data.address(), 4, new int[9]));
            LIBC.close(pair.getInt(0));
            LIBC.close(pair.getInt(4));
        }
    }
}
