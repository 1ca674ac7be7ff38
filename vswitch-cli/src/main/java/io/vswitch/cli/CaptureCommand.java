package io.vswitch.cli;

import io.vswitch.capture.FrameSummary;
import io.vswitch.capture.Pcap;
import io.vswitch.control.ControlClient;
import io.vswitch.control.ControlException;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.LocalTime;
import java.time.ZoneId;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code vswitch capture}: mirrors a port's frames (both directions) into a pcap file or prints one line per frame. */
@Command(name = "capture", mixinStandardHelpOptions = true,
        description = "Capture a port's frames, both directions: to a pcap file (tcpdump -r, Wireshark) or one line each.")
final class CaptureCommand extends ClientCommand {
    @Parameters(paramLabel = "PORT")
    String port;

    @Option(names = "-w", paramLabel = "FILE.pcap", description = "Write a pcap file instead of printing.")
    Path file;

    @Option(names = "-c", paramLabel = "COUNT", description = "Stop after COUNT frames (default: until Ctrl-C).")
    Long count;

    @Override
    int run() throws ControlException {
        try (ControlClient session = ControlClient.connect(client.socket())) {
            session.call("capture", ClientOptions.args().put("port", port).put("count", count == null ? 0 : count));
            DataInputStream in = new DataInputStream(session.stream());
            byte[] global = new byte[Pcap.GLOBAL_HEADER];
            in.readFully(global);
            long frames = 0;
            try (OutputStream out = file == null ? null : Files.newOutputStream(file)) {
                if (out != null) {
                    out.write(global);
                    out.flush();
                }
                while (count == null || frames < count) {
                    byte[] header = new byte[Pcap.RECORD_HEADER];
                    if (!readRecordHeader(in, header)) {
                        break;
                    }
                    ByteBuffer h = ByteBuffer.wrap(header).order(ByteOrder.LITTLE_ENDIAN);
                    long seconds = h.getInt() & 0xffffffffL;
                    int micros = h.getInt();
                    byte[] frame = new byte[h.getInt()];
                    in.readFully(frame);
                    frames++;
                    if (out != null) {
                        out.write(header);
                        out.write(frame);
                        out.flush();
                    } else {
                        LocalTime t = Instant.ofEpochSecond(seconds, micros * 1000L).atZone(ZoneId.systemDefault()).toLocalTime();
                        System.out.println(t + " " + FrameSummary.describe(frame));
                    }
                }
            }
            if (file != null) {
                System.err.println(frames + " frames written to " + file);
            }
            return 0;
        } catch (IOException e) {
            throw new ControlException(ControlException.FAILED, "capture on " + port + " failed: " + e.getMessage());
        }
    }

    private static boolean readRecordHeader(InputStream in, byte[] header) throws IOException {
        try {
            new DataInputStream(in).readFully(header);
            return true;
        } catch (EOFException e) {
            return false;
        }
    }
}
