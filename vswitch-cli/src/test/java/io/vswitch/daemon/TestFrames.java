package io.vswitch.daemon;

/** Frames the daemon tests send through real ports. */
final class TestFrames {
    private TestFrames() {
    }

    /**
     * A 60-byte broadcast from 02:00:00:00:00:01 of a local experimental EtherType (0x88b5), numbered
     * by {@code seq} in its first payload byte: flooded to every other port, dropped when there is none.
     */
    static byte[] broadcast(int seq) {
        byte[] f = new byte[60];
        for (int i = 0; i < 6; i++) {
            f[i] = (byte) 0xff;
        }
        f[6] = 0x02;
        f[11] = 0x01;
        f[12] = (byte) 0x88;
        f[13] = (byte) 0xb5;
        f[14] = (byte) seq;
        return f;
    }
}
