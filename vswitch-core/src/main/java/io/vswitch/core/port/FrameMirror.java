package io.vswitch.core.port;

import io.vswitch.core.frame.Frame;

/**
 * Receives each frame a port receives or sends while someone captures the port. Called on datapath
 * threads with a frame it does not own: it must copy what it keeps and must never block.
 */
public interface FrameMirror {
    void mirror(Frame frame, boolean received);
}
