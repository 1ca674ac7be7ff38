package io.vswitch.daemon;

/** MAC addresses as the FDB keeps them (48 bits in a long) and as people write them (02:00:00:00:00:01). */
final class Macs {
    private Macs() {
    }

    /** Parses six colon-separated hex pairs; the caller has validated the form. */
    static long parse(String text) {
        return Long.parseLong(text.replace(":", ""), 16);
    }

    static String format(long mac) {
        StringBuilder s = new StringBuilder(17);
        for (int shift = 40; shift >= 0; shift -= 8) {
            s.append(Character.forDigit((int) (mac >>> (shift + 4)) & 0xf, 16));
            s.append(Character.forDigit((int) (mac >>> shift) & 0xf, 16));
            if (shift > 0) {
                s.append(':');
            }
        }
        return s.toString();
    }
}
