package io.vswitch.linux;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import com.kenai.jffi.MemoryIO;
import org.junit.jupiter.api.Test;

/** A memfd mapped twice shares its bytes, as guest memory mapped by QEMU and by vswitch does. */
class SharedMemoryTest {
    private static final MemoryIO IO = MemoryIO.getInstance();

    @Test
    void twoMappingsOfAMemfdSeeEachOthersWrites() throws Exception {
        int fd = SharedMemory.createMemfd("vsw-test", 1 << 20);
        try (SharedMemory a = SharedMemory.map(fd, 1 << 20); SharedMemory b = SharedMemory.map(fd, 1 << 20)) {
            assertNotEquals(a.address(), b.address());
            IO.putLong(a.address() + 4096, 0x1122334455667788L);
            assertEquals(0x1122334455667788L, IO.getLong(b.address() + 4096));
        } finally {
            LibC.INSTANCE.close(fd);
        }
    }
}
