#!/usr/bin/env python3
"""Sends one Ethernet frame byte for byte, or captures the first frame from a source MAC byte for byte.

  raw-frame.py send IFACE HEX
  raw-frame.py capture IFACE SRC_MAC SECONDS

capture prints "ready" once its packet socket is bound, then the frame as hex and exits 0, or exits 1
after SECONDS. The receiving kernel moves an outer 802.1Q or 802.1ad tag into packet metadata; it is
put back from PACKET_AUXDATA (TCI and TPID), so the printed bytes are the ones on the wire.
"""
import socket
import struct
import sys
import time

SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 1 << 4
TP_STATUS_VLAN_TPID_VALID = 1 << 6
ETH_P_ALL = 0x0003


def send(iface, hex_frame):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    s.send(bytes.fromhex(hex_frame))
    return 0


def capture(iface, src_mac, seconds):
    src = bytes.fromhex(src_mac.replace(":", ""))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.bind((iface, 0))
    s.settimeout(0.1)
    print("ready", flush=True)
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            data, ancdata, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(20))
        except socket.timeout:
            continue
        if data[6:12] != src:
            continue
        for level, kind, payload in ancdata:
            if level == SOL_PACKET and kind == PACKET_AUXDATA and len(payload) >= 20:
                status, _, _, _, _, tci, tpid = struct.unpack("IIIHHHH", payload[:20])
                if status & TP_STATUS_VLAN_VALID:
                    if not status & TP_STATUS_VLAN_TPID_VALID:
                        tpid = 0x8100
                    data = data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
        print(data.hex(), flush=True)
        return 0
    return 1


def main():
    if sys.argv[1] == "send":
        return send(sys.argv[2], sys.argv[3])
    return capture(sys.argv[2], sys.argv[3], float(sys.argv[4]))


if __name__ == "__main__":
    sys.exit(main())
