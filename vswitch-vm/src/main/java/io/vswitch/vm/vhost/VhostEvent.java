package io.vswitch.vm.vhost;

import java.util.Locale;

/**
 * What a vhost-user port counts besides frames: connection life and everything a front-end or guest
 * did wrong. A guest's mistake stops the ring it made it on (or, for the message stream, resets the
 * connection); each is counted under its own name and logged.
 */
public enum VhostEvent {
    /** A front-end connected (or we connected to it). */
    CONNECTED,
    /** The connection ended (QEMU exited, was killed, or closed the socket). */
    DISCONNECTED,
    /** A connect attempt in client mode failed; retried with back-off. */
    CONNECT_FAILED,
    /** A second front-end tried to connect while one owns the port (server mode); refused. */
    REFUSED,
    /** A message with a bad header or payload size, or an invalid value: the connection was reset. */
    BAD_MESSAGE,
    /** A request this back-end does not implement: answered with a failure. */
    UNKNOWN_REQUEST,
    /** A memory table whose regions overlap: refused, connection reset. */
    OVERLAPPING_REGIONS,
    /** A memory table that cannot be mapped or has impossible sizes: refused, connection reset. */
    BAD_MEMORY_TABLE,
    /** Ring addresses outside guest memory, or a ring size that is not a power of two up to 32768. */
    BAD_RING,
    /** A descriptor (or indirect table) pointing outside every memory region: ring stopped. */
    BAD_ADDRESS,
    /** Descriptor lengths whose sum overflows or exceeds the largest frame: ring stopped. */
    BAD_LENGTH,
    /** A descriptor chain longer than its table (a loop) or than {@link SplitVirtqueue#MAX_CHAIN}: ring stopped. */
    CHAIN_TOO_LONG,
    /** A descriptor index past the table, or a head index past the ring: ring stopped. */
    BAD_INDEX,
    /** The avail index moved by more than the ring size: ring stopped. */
    AVAIL_JUMP,
    /** A descriptor writable where it must be readable or the other way round, or a nested indirect table: ring stopped. */
    BAD_DESCRIPTOR,
    /** A frame to the guest found no free guest buffer (also a TX_BUSY drop). */
    RX_RING_FULL;

    /** Name as shown to operators: lower case with dashes. */
    public String label() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }
}
