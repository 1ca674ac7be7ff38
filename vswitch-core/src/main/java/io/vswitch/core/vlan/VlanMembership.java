package io.vswitch.core.vlan;

import java.util.BitSet;
import java.util.Collection;

/**
 * A port's VLAN membership (the kernel bridge's {@code br_vlan.c}, with Open vSwitch's port
 * modes). Immutable: a change builds a new membership and the port swaps it in, so datapath
 * threads read it without a lock.
 *
 * <ul>
 *   <li><b>access</b> (one PVID): untagged frames belong to the PVID; tagged frames are dropped;
 *       frames leave untagged.
 *   <li><b>trunk</b> (allowed list, optional native VLAN): tagged frames of an allowed VLAN keep it;
 *       untagged frames belong to the native VLAN, or are dropped without one; frames of the native
 *       VLAN leave untagged, the others tagged.
 * </ul>
 * VLAN 0 is the "untagged" domain: a port created without VLAN settings is a trunk of every VLAN
 * whose native VLAN is 0, so plain untagged traffic bridges as it would on a VLAN-unaware switch and
 * tagged traffic passes through with its tag (Open vSwitch's default). A priority tag (VID 0) counts
 * as untagged.
 */
public final class VlanMembership {
    public static final int NOT_MEMBER = -1;
    public static final int MAX_VID = 4094;

    /** The default: trunk of all VLANs, untagged frames in VLAN 0. */
    public static final VlanMembership DEFAULT = new VlanMembership(false, 0, allVlans(), 0);

    private final boolean access;
    private final int pvid;
    private final BitSet allowed;
    private final int nativeVlan;

    private VlanMembership(boolean access, int pvid, BitSet allowed, int nativeVlan) {
        this.access = access;
        this.pvid = pvid;
        this.allowed = allowed;
        this.nativeVlan = nativeVlan;
    }

    public static VlanMembership access(int pvid) {
        checkVid(pvid);
        BitSet only = new BitSet(MAX_VID + 1);
        only.set(pvid);
        return new VlanMembership(true, pvid, only, pvid);
    }

    /**
     * A trunk carrying {@code vlans} tagged; {@code nativeVlan} (0 for none) is carried untagged and
     * need not be listed.
     */
    public static VlanMembership trunk(Collection<Integer> vlans, int nativeVlan) {
        if (vlans.isEmpty()) {
            throw new IllegalArgumentException("a trunk needs at least one VLAN");
        }
        BitSet set = new BitSet(MAX_VID + 1);
        for (int vid : vlans) {
            checkVid(vid);
            set.set(vid);
        }
        if (nativeVlan != 0) {
            checkVid(nativeVlan);
            set.set(nativeVlan);
        }
        return new VlanMembership(false, 0, set, nativeVlan);
    }

    private static BitSet allVlans() {
        BitSet all = new BitSet(MAX_VID + 1);
        all.set(0, MAX_VID + 1);
        return all;
    }

    static void checkVid(int vid) {
        if (vid < 1 || vid > MAX_VID) {
            throw new IllegalArgumentException("VLAN " + vid + " is out of range: use 1-" + MAX_VID);
        }
    }

    /**
     * The VLAN a received frame belongs to.
     *
     * @param tagVid VID of the frame's outer tag, or -1 if untagged
     * @return the VLAN (0 = untagged domain), or {@link #NOT_MEMBER} if the port must drop it
     */
    public int ingressVlan(int tagVid) {
        if (tagVid <= 0) {
            if (access) {
                return pvid;
            }
            return nativeVlan != 0 || allowed.get(0) ? nativeVlan : NOT_MEMBER;
        }
        if (access) {
            return NOT_MEMBER;
        }
        return allowed.get(tagVid) ? tagVid : NOT_MEMBER;
    }

    /** Whether frames of {@code vlan} may leave through this port. */
    public boolean carries(int vlan) {
        return allowed.get(vlan);
    }

    /** Whether frames of {@code vlan} leave this port with a tag. */
    public boolean egressTagged(int vlan) {
        return !access && vlan != nativeVlan && vlan != 0;
    }

    public boolean isAccess() {
        return access;
    }

    public int pvid() {
        return pvid;
    }

    public int nativeVlan() {
        return nativeVlan;
    }

    /** True for the default all-VLAN trunk. */
    public boolean isDefault() {
        return this == DEFAULT || (!access && nativeVlan == 0 && allowed.cardinality() == MAX_VID + 1);
    }

    /** Allowed VLANs in ascending order, the native one excluded (cold path). */
    public int[] trunkVlans() {
        return allowed.stream().filter(v -> v != 0 && (access || v != nativeVlan)).toArray();
    }

    @Override
    public String toString() {
        if (access) {
            return "access vlan " + pvid;
        }
        if (isDefault()) {
            return "trunk all";
        }
        StringBuilder s = new StringBuilder("trunk");
        int[] vids = trunkVlans();
        for (int i = 0; i < vids.length; i++) {
            s.append(i == 0 ? " " : ",").append(vids[i]);
        }
        if (nativeVlan != 0) {
            s.append(" native ").append(nativeVlan);
        }
        return s.toString();
    }
}
