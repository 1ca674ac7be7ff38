package io.vswitch.control;

/**
 * A request the daemon refuses, with a stable machine-readable code (for scripts, in the JSON reply)
 * and a message for people that says what is wrong and how to fix it.
 */
public final class ControlException extends Exception {
    private static final long serialVersionUID = 1L;

    public static final String BAD_REQUEST = "BAD_REQUEST";
    public static final String UNKNOWN_COMMAND = "UNKNOWN_COMMAND";
    public static final String NO_SUCH_PORT = "NO_SUCH_PORT";
    public static final String INVALID_ARGUMENT = "INVALID_ARGUMENT";
    public static final String CONFLICT = "CONFLICT";
    public static final String PERMISSION_DENIED = "PERMISSION_DENIED";
    public static final String REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE";
    public static final String UNSUPPORTED_VERSION = "UNSUPPORTED_VERSION";
    public static final String FAILED = "FAILED";
    public static final String BUSY = "BUSY";
    /** The daemon is stopping: the request was not run. */
    public static final String STOPPING = "STOPPING";

    private final String code;

    public ControlException(String code, String message) {
        super(message);
        this.code = code;
    }

    public String code() {
        return code;
    }
}
