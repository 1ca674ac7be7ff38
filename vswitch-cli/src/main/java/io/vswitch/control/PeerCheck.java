package io.vswitch.control;

import io.netty.channel.unix.PeerCredentials;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Who may use the control socket: root, or a member (primary or supplementary) of the configured group. */
final class PeerCheck {
    private static final Logger LOG = LoggerFactory.getLogger(PeerCheck.class);

    private final int allowedGid;

    /** @param allowedGid group whose members may connect besides root, or -1 for root only */
    PeerCheck(int allowedGid) {
        this.allowedGid = allowedGid;
    }

    boolean allowed(PeerCredentials peer) {
        if (peer.uid() == 0) {
            return true;
        }
        if (allowedGid < 0) {
            return false;
        }
        for (int gid : peer.gids()) {
            if (gid == allowedGid) {
                return true;
            }
        }
        // SO_PEERCRED carries the primary group only; supplementary groups are in /proc.
        return supplementaryGroups(peer.pid()).contains(allowedGid);
    }

    /** The refusal for a peer that is not {@link #allowed}: what is wrong and how to fix it. */
    ControlException refusal(PeerCredentials peer) {
        return new ControlException(ControlException.PERMISSION_DENIED, "uid " + peer.uid()
                + " may not manage this switch: run as root"
                + (allowedGid >= 0 ? " or as a member of group " + allowedGid : "")
                + " (sudo ./vswitch ...)");
    }

    private static List<Integer> supplementaryGroups(int pid) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Integer.toString(pid), "status"))) {
                if (line.startsWith("Groups:")) {
                    String groups = line.substring(7).trim();
                    return groups.isEmpty() ? List.of() : Arrays.stream(groups.split("\\s+")).map(Integer::valueOf).toList();
                }
            }
        } catch (IOException | NumberFormatException e) {
            LOG.debug("cannot read groups of pid {}: {}", pid, e.getMessage());
        }
        return List.of();
    }
}
