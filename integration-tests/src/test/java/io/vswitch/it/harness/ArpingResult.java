package io.vswitch.it.harness;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Parsed output of iputils {@code arping}.
 *
 * @param sent     ARP requests sent
 * @param received replies received
 * @param macs     the replying MAC address of each reply, lower case, in order
 * @param raw      the command's result
 */
public record ArpingResult(int sent, int received, List<String> macs, ExecResult raw) {

    private static final Pattern REPLY = Pattern.compile("reply from \\S+ \\[([0-9A-Fa-f:]{17})\\]");
    private static final Pattern SENT = Pattern.compile("Sent (\\d+) probes?");
    private static final Pattern RECEIVED = Pattern.compile("Received (\\d+) response");

    public ArpingResult {
        macs = List.copyOf(macs);
    }

    static ArpingResult parse(ExecResult r) {
        List<String> macs = new ArrayList<>();
        Matcher m = REPLY.matcher(r.stdout());
        while (m.find()) {
            macs.add(m.group(1).toLowerCase(Locale.ROOT));
        }
        Matcher s = SENT.matcher(r.stdout());
        Matcher rc = RECEIVED.matcher(r.stdout());
        int sent = s.find() ? Integer.parseInt(s.group(1)) : -1;
        int received = rc.find() ? Integer.parseInt(rc.group(1)) : macs.size();
        return new ArpingResult(sent, received, macs, r);
    }

    /** At least one reply. */
    public boolean answered() {
        return received > 0;
    }
}
