package io.vswitch.it.harness;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Parsed output of iputils {@code ping}.
 *
 * @param transmitted echo requests sent
 * @param received    echo replies received
 * @param rttsMs      round-trip time of each reply, in order, in milliseconds
 * @param raw         the command's result
 */
public record PingResult(int transmitted, int received, List<Double> rttsMs, ExecResult raw) {

    private static final Pattern TIME = Pattern.compile("time=([0-9.]+) ms");
    private static final Pattern SUMMARY = Pattern.compile("(\\d+) packets transmitted, (\\d+) received");

    public PingResult {
        rttsMs = List.copyOf(rttsMs);
    }

    static PingResult parse(ExecResult r, int requested) {
        List<Double> rtts = new ArrayList<>();
        Matcher m = TIME.matcher(r.stdout());
        while (m.find()) {
            rtts.add(Double.parseDouble(m.group(1)));
        }
        Matcher s = SUMMARY.matcher(r.stdout());
        int tx = requested;
        int rx = rtts.size();
        if (s.find()) {
            tx = Integer.parseInt(s.group(1));
            rx = Integer.parseInt(s.group(2));
        }
        return new PingResult(tx, rx, rtts, r);
    }

    /** Lost requests in percent (100 when nothing was sent). */
    public double lossPercent() {
        return transmitted == 0 ? 100.0 : 100.0 * (transmitted - received) / transmitted;
    }

    /** Every request answered. */
    public boolean allReceived() {
        return transmitted > 0 && received == transmitted;
    }

    public double medianMs() {
        if (rttsMs.isEmpty()) {
            return Double.NaN;
        }
        List<Double> s = new ArrayList<>(rttsMs);
        s.sort(null);
        int n = s.size();
        return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
    }

    public double avgMs() {
        return rttsMs.stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
    }

    public double maxMs() {
        return rttsMs.stream().mapToDouble(Double::doubleValue).max().orElse(Double.NaN);
    }

    @Override
    public String toString() {
        return String.format("PingResult[%d/%d received, loss %.1f%%, median %.3f ms, avg %.3f ms]",
                received, transmitted, lossPercent(), medianMs(), avgMs());
    }
}
