package io.vswitch.linux;

import java.io.IOException;

/** A failed libc call, keeping its errno so callers can tell e.g. "device gone" from other failures. */
public final class ErrnoException extends IOException {

    private static final long serialVersionUID = 1L;

    private final int errno;

    public ErrnoException(String operation, int errno) {
        super(operation + ": " + describe(errno));
        this.errno = errno;
    }

    /** Builds the exception from this thread's saved errno; call right after the failing {@link LibC} call. */
    public static ErrnoException last(String operation) {
        return new ErrnoException(operation, LibC.errno());
    }

    public int errno() {
        return errno;
    }

    private static String describe(int errno) {
        jnr.constants.platform.Errno known = jnr.constants.platform.Errno.valueOf(errno);
        return known == jnr.constants.platform.Errno.__UNKNOWN_CONSTANT__
                ? "errno " + errno
                : known.name() + " (" + known.description() + ")";
    }
}
