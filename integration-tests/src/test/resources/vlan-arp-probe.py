#!/usr/bin/env python3
"""Sends 802.1Q-tagged ARP requests out of IFACE and waits for a reply tagged with the same VLAN.

Stands in for VLAN subinterfaces on kernels built without 8021q: the frames on the wire are the
same. The kernel moves a received tag into packet metadata, so the VLAN of a reply is read from
PACKET_AUXDATA. Prints the replier's MAC and exits 0, or exits 1 after the deadline.

usage: vlan-arp-probe.py IFACE VID SRC_IP DST_IP [SECONDS]
"""
import socket
import struct
import sys
import time

SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 1 << 4
ETH_P_ALL = 0x0003


def main():
    iface, vid, src_ip, dst_ip = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    seconds = float(sys.argv[5]) if len(sys.argv) > 5 else 3.0
    with open(f"/sys/class/net/{iface}/address") as f:
        mac = bytes.fromhex(f.read().strip().replace(":", ""))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.bind((iface, 0))
    s.settimeout(0.1)
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac, socket.inet_aton(src_ip),
                      b"\0" * 6, socket.inet_aton(dst_ip))
    request = b"\xff" * 6 + mac + struct.pack("!HH", 0x8100, vid) + struct.pack("!H", 0x0806) + arp
    deadline = time.time() + seconds
    next_send = 0.0
    while time.time() < deadline:
        if time.time() >= next_send:
            s.send(request)
            next_send = time.time() + 0.5
        try:
            data, ancdata, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(20))
        except socket.timeout:
            continue
        tagged_vid = None
        for level, kind, payload in ancdata:
            if level == SOL_PACKET and kind == PACKET_AUXDATA and len(payload) >= 20:
                status, _, _, _, _, tci, _ = struct.unpack("IIIHHHH", payload[:20])
                if status & TP_STATUS_VLAN_VALID:
                    tagged_vid = tci & 0x0FFF
        ethertype = struct.unpack("!H", data[12:14])[0]
        body = data[14:]
        if ethertype == 0x8100:  # tag left in the frame (no VLAN offload on this path)
            tagged_vid = struct.unpack("!H", data[14:16])[0] & 0x0FFF
            ethertype = struct.unpack("!H", data[16:18])[0]
            body = data[18:]
        if ethertype != 0x0806 or tagged_vid != vid or len(body) < 28:
            continue
        op = struct.unpack("!H", body[6:8])[0]
        if op == 2 and body[14:18] == socket.inet_aton(dst_ip) and data[0:6] == mac:
            print(":".join(f"{b:02x}" for b in body[8:14]))
            return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
