package io.vswitch.capture;

import io.vswitch.core.bridge.BridgePort;
import io.vswitch.core.frame.Frame;
import io.vswitch.core.port.FrameMirror;
import java.util.Arrays;

/**
 * The captures running on one port: installed as the port's {@link FrameMirror} while at least one
 * session is open, and removed when the last one ends, so an uncaptured port pays only a null check.
 */
public final class PortCaptures implements FrameMirror {
    private final BridgePort port;
    private volatile CaptureSession[] sessions = new CaptureSession[0];

    private PortCaptures(BridgePort port) {
        this.port = port;
    }

    /** Starts a session on {@code port}: streams until {@code limit} frames (0: until the client leaves). */
    public static CaptureSession open(BridgePort port, long limit) {
        synchronized (port) {
            PortCaptures captures = port.mirror() instanceof PortCaptures existing ? existing : new PortCaptures(port);
            CaptureSession[] holder = new CaptureSession[1];
            holder[0] = new CaptureSession(port.name(), limit, () -> captures.remove(holder[0]));
            captures.add(holder[0]);
            port.setMirror(captures);
            return holder[0];
        }
    }

    private void add(CaptureSession session) {
        CaptureSession[] next = Arrays.copyOf(sessions, sessions.length + 1);
        next[next.length - 1] = session;
        sessions = next;
    }

    private void remove(CaptureSession session) {
        synchronized (port) {
            sessions = Arrays.stream(sessions).filter(s -> s != session).toArray(CaptureSession[]::new);
            if (sessions.length == 0 && port.mirror() == this) {
                port.setMirror(null);
            }
        }
    }

    @Override
    public void mirror(Frame frame, boolean received) {
        for (CaptureSession s : sessions) {
            s.offer(frame);
        }
    }
}
