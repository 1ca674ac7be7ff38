package io.vswitch.core.port;

/**
 * A receive queue whose frames belong to several ports: one VXLAN UDP socket serves every VNI bound to
 * its local address and port, so one read returns frames for each of their ports. After
 * {@link PortQueue#receive}, {@link #receiver(int)} names the port each frame of the batch was received
 * on; the datapath thread hands the frame to that port's ingress.
 *
 * <p>Only the thread that called {@code receive} asks, and only about the batch it just received.
 */
public interface SharedReceiveQueue extends PortQueue {
    /** The port the frame at {@code index} of the last received batch arrived on. */
    Port receiver(int index);
}
