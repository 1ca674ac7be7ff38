package io.vswitch.control;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The control protocol: one JSON object per line each way over a unix stream socket (encoded by
 * {@link JsonLines}).
 *
 * <pre>
 * request:  {"v":1, "cmd":"add-port", "args":{...}}
 * reply:    {"v":1, "ok":true, "result":{...}}
 *           {"v":1, "ok":false, "error":{"code":"NO_SUCH_PORT", "message":"..."}}
 * </pre>
 * A request longer than {@value #MAX_REQUEST_BYTES} bytes is refused. {@code capture} is the one
 * streaming command: after its reply the daemon keeps writing frames (see the capture package).
 */
public final class Protocol {
    public static final int VERSION = 1;
    public static final int MAX_REQUEST_BYTES = 64 * 1024;

    /**
     * The daemon's mapper between Java objects (records, maps) and JSON trees; thread-safe once
     * configured. The CLI avoids it where it can (see {@link JsonLines}): building it is costly.
     */
    public static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, true);

    private Protocol() {
    }

    public static ObjectNode ok(Object result) {
        ObjectNode reply = JsonLines.object();
        reply.put("v", VERSION);
        reply.put("ok", true);
        reply.set("result", JSON.valueToTree(result));
        return reply;
    }

    public static ObjectNode error(String code, String message) {
        ObjectNode reply = JsonLines.object();
        reply.put("v", VERSION);
        reply.put("ok", false);
        ObjectNode error = reply.putObject("error");
        error.put("code", code);
        error.put("message", message);
        return reply;
    }
}
