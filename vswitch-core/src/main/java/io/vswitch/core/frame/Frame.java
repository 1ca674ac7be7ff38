package io.vswitch.core.frame;

import io.vswitch.core.alloc.Chunk;
import java.nio.ByteBuffer;

/**
 * One Ethernet frame in a direct buffer, with room in front of it (headroom) for a virtio-net
 * header, a pushed VLAN tag or an encapsulation header.
 *
 * <p>Frames are reusable views: each ingress queue owns a fixed set of them (a {@link FrameBatch})
 * and points them at fresh fragments on every receive, so the data path creates no objects. The
 * bytes belong to the {@link Chunk} the frame was carved from; {@link #release()} gives them back.
 * A frame is used by one thread at a time: the ingress thread that received it. Whoever attaches a
 * frame (an allocator, for a receiving queue) owns it until {@link #release()}; a frame dropped
 * without release is a leak, which {@link FrameLeaks} finds in tests.
 *
 * <pre>
 * bufferStart          vnetStart   start                       start+length      limit
 * |  ...headroom...    | vnet hdr  | Ethernet frame ...        |   tailroom      |
 * </pre>
 */
public final class Frame {
    /** Sentinel for "no VLAN tag" / "no offset". */
    public static final int NONE = -1;

    private ByteBuffer buffer;
    private long baseAddress;
    private Chunk chunk;
    private int bufferStart;
    private int start;
    private int length;
    private int limit;

    /** Offset where the virtio-net header bytes last read or written in front of the frame sit, or NONE. */
    private int vnetStart = NONE;
    private int vnetFlags;
    private int gsoType;
    private int hdrLen;
    private int gsoSize;
    private int csumStart;
    private int csumOffset;

    // Results of FrameParser, all relative to start.
    int etherType;
    int tagOffset = NONE;
    int tagCount;
    int vlanId = NONE;
    int l3Offset = NONE;
    int l4Offset = NONE;
    int ipProto = NONE;
    boolean ipFragment;
    boolean laterFragment;

    private int flowHash;
    private int bridgeVlan;

    /**
     * Points this frame at a fragment. Called by the allocator only.
     *
     * @throws IllegalStateException if the frame still holds a fragment: attaching over it would leak
     *     that fragment (its chunk could never be reused)
     */
    public void attach(Chunk owner, int fragmentStart, int headroom, int fragmentLimit) {
        if (chunk != null) {
            throw new IllegalStateException("frame attached again without being released: its fragment would leak");
        }
        if (FrameLeaks.ENABLED) {
            FrameLeaks.attached(this);
        }
        this.chunk = owner;
        this.buffer = owner.buffer();
        this.baseAddress = owner.address();
        this.bufferStart = fragmentStart;
        this.start = fragmentStart + headroom;
        this.length = 0;
        this.limit = fragmentLimit;
        this.vnetStart = NONE;
        this.vnetFlags = 0;
        this.gsoType = VnetHeader.GSO_NONE;
        this.hdrLen = 0;
        this.gsoSize = 0;
        this.csumStart = 0;
        this.csumOffset = 0;
    }

    /** Gives the bytes back to their chunk; the frame may then be attached again. */
    public void release() {
        Chunk owner = chunk;
        if (owner != null) {
            if (FrameLeaks.ENABLED) {
                FrameLeaks.released(this);
            }
            chunk = null;
            buffer = null;
            owner.release();
        }
    }

    public boolean attached() {
        return chunk != null;
    }

    public Chunk chunk() {
        return chunk;
    }

    /** The whole chunk buffer (big-endian, direct); frame bytes are at [start, start+length). */
    public ByteBuffer buffer() {
        return buffer;
    }

    /** Native address of the frame's first byte, for native reads and writes. */
    public long address() {
        return baseAddress + start;
    }

    /** Native address of byte {@code offset} of the chunk. */
    public long addressOf(int offset) {
        return baseAddress + offset;
    }

    public int start() {
        return start;
    }

    public int length() {
        return length;
    }

    /** Bytes free in front of the frame. */
    public int headroom() {
        return start - bufferStart;
    }

    /** Bytes the frame may grow to at its current start. */
    public int capacity() {
        return limit - start;
    }

    public int fragmentStart() {
        return bufferStart;
    }

    public int limit() {
        return limit;
    }

    public void setLength(int length) {
        if (length < 0 || start + length > limit) {
            throw new IllegalArgumentException("length " + length + " exceeds capacity " + capacity());
        }
        this.length = length;
    }

    /** Moves the frame start by {@code delta} bytes (negative grows into the headroom), keeping its end. */
    public void moveStart(int delta) {
        int newStart = start + delta;
        if (newStart < bufferStart || delta > length) {
            throw new IllegalArgumentException("cannot move frame start by " + delta);
        }
        start = newStart;
        length -= delta;
    }

    /** Resets start and length (used when a copy or segment is written into this fragment). */
    public void setBounds(int newStart, int newLength) {
        if (newStart < bufferStart || newStart + newLength > limit || newLength < 0) {
            throw new IllegalArgumentException("bounds outside fragment");
        }
        start = newStart;
        length = newLength;
    }

    // ---- virtio-net header --------------------------------------------------------------------

    /**
     * Decodes the virtio-net header in the {@link VnetHeader#SIZE} bytes right before the frame and
     * remembers where it is, so it can be passed through untouched while the frame does not move.
     */
    public void loadVnetHeader() {
        int at = start - VnetHeader.SIZE;
        ByteBuffer b = buffer;
        vnetStart = at;
        vnetFlags = b.get(at + VnetHeader.OFF_FLAGS) & 0xff;
        gsoType = b.get(at + VnetHeader.OFF_GSO_TYPE) & 0xff;
        hdrLen = Short.reverseBytes(b.getShort(at + VnetHeader.OFF_HDR_LEN)) & 0xffff;
        gsoSize = Short.reverseBytes(b.getShort(at + VnetHeader.OFF_GSO_SIZE)) & 0xffff;
        csumStart = Short.reverseBytes(b.getShort(at + VnetHeader.OFF_CSUM_START)) & 0xffff;
        csumOffset = Short.reverseBytes(b.getShort(at + VnetHeader.OFF_CSUM_OFFSET)) & 0xffff;
    }

    /**
     * Makes the {@link VnetHeader#SIZE} bytes in front of the frame hold this frame's offload
     * state. Free when the header read with the frame is still in place (the frame did not move);
     * otherwise it is encoded again, which also accounts for a pushed or popped VLAN tag.
     *
     * @return offset of the header's first byte
     */
    public int storeVnetHeader() {
        int at = start - VnetHeader.SIZE;
        if (vnetStart == at) {
            return at;
        }
        ByteBuffer b = buffer;
        b.put(at + VnetHeader.OFF_FLAGS, (byte) vnetFlags);
        b.put(at + VnetHeader.OFF_GSO_TYPE, (byte) gsoType);
        b.putShort(at + VnetHeader.OFF_HDR_LEN, Short.reverseBytes((short) hdrLen));
        b.putShort(at + VnetHeader.OFF_GSO_SIZE, Short.reverseBytes((short) gsoSize));
        b.putShort(at + VnetHeader.OFF_CSUM_START, Short.reverseBytes((short) csumStart));
        b.putShort(at + VnetHeader.OFF_CSUM_OFFSET, Short.reverseBytes((short) csumOffset));
        b.putShort(at + VnetHeader.OFF_NUM_BUFFERS, (short) 0);
        vnetStart = at;
        return at;
    }

    /** Sets the offload state (used by ports that learn it from somewhere else than a TAP). */
    public void setOffload(int flags, int gsoType, int hdrLen, int gsoSize, int csumStart, int csumOffset) {
        this.vnetFlags = flags;
        this.gsoType = gsoType;
        this.hdrLen = hdrLen;
        this.gsoSize = gsoSize;
        this.csumStart = csumStart;
        this.csumOffset = csumOffset;
        this.vnetStart = NONE;
    }

    /**
     * Shifts the offsets of the offload state after {@code delta} bytes were inserted (positive)
     * or removed (negative) in front of the L3 header, e.g. a VLAN tag push or pop.
     */
    public void shiftOffloadOffsets(int delta) {
        if ((vnetFlags & VnetHeader.FLAG_NEEDS_CSUM) != 0) {
            csumStart += delta;
        }
        if (gsoType != VnetHeader.GSO_NONE && hdrLen != 0) {
            hdrLen += delta;
        }
        vnetStart = NONE;
    }

    public int vnetFlags() {
        return vnetFlags;
    }

    public int gsoType() {
        return gsoType;
    }

    public int hdrLen() {
        return hdrLen;
    }

    public int gsoSize() {
        return gsoSize;
    }

    public int csumStart() {
        return csumStart;
    }

    public int csumOffset() {
        return csumOffset;
    }

    /**
     * True if the header claims a GSO super-frame, which a port without offloads must get segmented.
     * Any type but GSO_NONE claims one, the ECN bit alone included: like the kernel's
     * {@code virtio_net_hdr_to_skb}, the {@link io.vswitch.core.gso.Segmenter} then drops a type it
     * does not know as {@link DropReason#BAD_VNET_HEADER}, instead of it reaching a guest or TAP that
     * would refuse the header.
     */
    public boolean isGso() {
        return gsoType != VnetHeader.GSO_NONE;
    }

    /** True if the frame's L4 checksum is still to be computed (NEEDS_CSUM). */
    public boolean needsChecksum() {
        return (vnetFlags & VnetHeader.FLAG_NEEDS_CSUM) != 0;
    }

    // ---- byte access relative to the frame start ----------------------------------------------

    public int u8(int offset) {
        return buffer.get(start + offset) & 0xff;
    }

    public int u16(int offset) {
        return buffer.getShort(start + offset) & 0xffff;
    }

    public int i32(int offset) {
        return buffer.getInt(start + offset);
    }

    /** 48-bit MAC address at {@code offset}, as the low 48 bits of a long. */
    public long mac(int offset) {
        int at = start + offset;
        return ((long) (buffer.getShort(at) & 0xffff) << 32) | (buffer.getInt(at + 2) & 0xffffffffL);
    }

    public void putU8(int offset, int value) {
        buffer.put(start + offset, (byte) value);
    }

    public void putU16(int offset, int value) {
        buffer.putShort(start + offset, (short) value);
    }

    public void putI32(int offset, int value) {
        buffer.putInt(start + offset, value);
    }

    /** Copies the frame's bytes out (cold path: capture, tests). */
    public byte[] toBytes() {
        byte[] out = new byte[length];
        buffer.get(start, out, 0, length);
        return out;
    }

    /** Copies bytes into the frame at its current start and sets the length (cold path and tests). */
    public void write(byte[] bytes, int offset, int len) {
        setLength(len);
        buffer.put(start, bytes, offset, len);
    }

    // ---- parse results ------------------------------------------------------------------------

    public int etherType() {
        return etherType;
    }

    /**
     * Offset of the frame's 802.1Q tag (its TPID), or {@link #NONE}: the outermost header if its TPID
     * is 0x8100. An outer 802.1ad S-tag is payload, so such a frame has none.
     */
    public int tagOffset() {
        return tagOffset;
    }

    /** VLAN ID of the 802.1Q tag at {@link #tagOffset()}, or {@link #NONE} if the bridge sees the frame untagged. */
    public int vlanId() {
        return vlanId;
    }

    /** Stacked tags of any TPID (802.1Q, 802.1ad) in front of the L3 header, up to {@link FrameParser#MAX_TAGS}. */
    public int tagCount() {
        return tagCount;
    }

    public int l3Offset() {
        return l3Offset;
    }

    public int l4Offset() {
        return l4Offset;
    }

    public int ipProto() {
        return ipProto;
    }

    public boolean ipFragment() {
        return ipFragment;
    }

    public long dstMac() {
        return mac(0);
    }

    public long srcMac() {
        return mac(6);
    }

    public int flowHash() {
        return flowHash;
    }

    public void setFlowHash(int flowHash) {
        this.flowHash = flowHash;
    }

    /** VLAN the bridge assigned to the frame on ingress (its classification), 0 for none. */
    public int bridgeVlan() {
        return bridgeVlan;
    }

    public void setBridgeVlan(int vlan) {
        this.bridgeVlan = vlan;
    }

    /** Records that the outermost tag was removed or added, keeping parse offsets consistent. */
    public void tagRemoved() {
        tagOffset = NONE;
        vlanId = NONE;
        tagCount--;
        l3Offset = l3Offset == NONE ? NONE : l3Offset - 4;
        l4Offset = l4Offset == NONE ? NONE : l4Offset - 4;
    }

    public void tagAdded(int vid) {
        tagOffset = 12;
        vlanId = vid;
        tagCount++;
        l3Offset = l3Offset == NONE ? NONE : l3Offset + 4;
        l4Offset = l4Offset == NONE ? NONE : l4Offset + 4;
    }
}
