/*
 * The system-port benchmark's floor: the least a user-space switch between a TAP and an existing
 * interface (a veth, through AF_PACKET) can do.
 *
 * Creates a TAP with the flags vswitch uses (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, a 12-byte virtio-net
 * header, CSUM and TSO offloads) and opens a packet socket on the interface with the options of
 * vswitch's system port (PACKET_VNET_HDR, PACKET_QDISC_BYPASS, PACKET_IGNORE_OUTGOING, promiscuous),
 * prints "ready", then runs one thread per direction. No parsing, no learning, no epoll: a row for
 * this program shows what the syscalls and the kernel's work cost on this machine, and everything a
 * switch adds on top of that is the switch's own overhead.
 *
 * Two ways to send towards the interface, the lever issue 11 is about:
 *   (default)  TAP read, then one writev per frame (vswitch's single-frame PacketTransmitter);
 *   --batch    TAP reads until EAGAIN (at most 64 frames), then one sendmmsg for all of them
 *              (what Open vSwitch's netdev-linux does, and vswitch's deferred transmit).
 * With one send per frame, each frame's delivery into the veth peer wakes the receiver behind it,
 * which can preempt the sending thread at each syscall return; a sendmmsg returns once per batch.
 * The interface-to-TAP direction is the same in both modes: one readv and one write per frame.
 *
 * Build: cc -O2 -pthread -o sys-loop sys-loop.c      (bench/system-bench builds it itself)
 * Usage: sys-loop [--batch] TAP IFNAME   (as root; SIGTERM/SIGINT end it with the default action:
 *        the kernel closes the fds, which removes the TAP and the promiscuous membership)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "vnet-tap.h"

#define PACKET_HDR_LEN 10 /* struct virtio_net_hdr, as PACKET_VNET_HDR wants */
#define MAX_FRAME (VNET_HDR_LEN + 65536)
#define BATCH 64

static int tap_fd;
static int packet_fd;

static void die(const char *what)
{
    fprintf(stderr, "%s: %s\n", what, strerror(errno));
    exit(1);
}

static void set_packet_option(int fd, int option, const char *name)
{
    int one = 1;
    if (setsockopt(fd, SOL_PACKET, option, &one, sizeof(one)) < 0) {
        die(name);
    }
}

static int open_packet_socket(const char *name)
{
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (fd < 0) {
        die("socket(AF_PACKET)");
    }
    set_packet_option(fd, PACKET_VNET_HDR, "PACKET_VNET_HDR");
    set_packet_option(fd, PACKET_QDISC_BYPASS, "PACKET_QDISC_BYPASS");
    set_packet_option(fd, PACKET_IGNORE_OUTGOING, "PACKET_IGNORE_OUTGOING");
    struct sockaddr_ll sll;
    memset(&sll, 0, sizeof(sll));
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
        die(name);
    }
    sll.sll_ifindex = ifr.ifr_ifindex;
    if (bind(fd, (struct sockaddr *) &sll, sizeof(sll)) < 0) {
        die("bind");
    }
    struct packet_mreq mr;
    memset(&mr, 0, sizeof(mr));
    mr.mr_ifindex = sll.sll_ifindex;
    mr.mr_type = PACKET_MR_PROMISC;
    if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0) {
        die("PACKET_MR_PROMISC");
    }
    return fd;
}

/* The TAP's 12-byte header starts with the packet socket's 10-byte one: send the first 10 bytes. */
static void point_at(struct iovec iov[2], char *buf, ssize_t n)
{
    iov[0].iov_base = buf;
    iov[0].iov_len = PACKET_HDR_LEN;
    iov[1].iov_base = buf + VNET_HDR_LEN;
    iov[1].iov_len = (size_t) n - VNET_HDR_LEN;
}

static void *tap_to_interface(void *unused)
{
    static char buf[MAX_FRAME];
    (void) unused;
    for (;;) {
        ssize_t n = read(tap_fd, buf, sizeof(buf));
        if (n <= VNET_HDR_LEN) {
            continue;
        }
        struct iovec iov[2];
        point_at(iov, buf, n);
        /* A full or vanished interface drops the frame, as a switch would. */
        (void) writev(packet_fd, iov, 2);
    }
    return NULL;
}

static void *tap_to_interface_batched(void *unused)
{
    static char bufs[BATCH][MAX_FRAME];
    static struct iovec iov[BATCH][2];
    static struct mmsghdr msgs[BATCH];
    (void) unused;
    if (fcntl(tap_fd, F_SETFL, O_NONBLOCK) < 0) {
        die("O_NONBLOCK");
    }
    for (int i = 0; i < BATCH; i++) {
        msgs[i].msg_hdr.msg_iov = iov[i];
        msgs[i].msg_hdr.msg_iovlen = 2;
    }
    for (;;) {
        int count = 0;
        while (count < BATCH) {
            ssize_t n = read(tap_fd, bufs[count], MAX_FRAME);
            if (n < 0) {
                break; /* EAGAIN: the batch is complete */
            }
            if (n > VNET_HDR_LEN) {
                point_at(iov[count], bufs[count], n);
                count++;
            }
        }
        if (count == 0) {
            struct pollfd p = {.fd = tap_fd, .events = POLLIN};
            (void) poll(&p, 1, -1);
            continue;
        }
        /* sendmmsg stops at a frame it refuses: skip that one and send the rest, as a switch would. */
        for (int done = 0; done < count;) {
            int sent = sendmmsg(packet_fd, msgs + done, (unsigned) (count - done), 0);
            done += sent > 0 ? sent : 1;
        }
    }
    return NULL;
}

static void *interface_to_tap(void *unused)
{
    static char buf[MAX_FRAME];
    (void) unused;
    for (;;) {
        /* The packet socket's 10-byte header lands in the TAP's 12-byte one; num_buffers is 0. */
        struct iovec iov[2] = {{buf, PACKET_HDR_LEN}, {buf + VNET_HDR_LEN, MAX_FRAME - VNET_HDR_LEN}};
        ssize_t n = readv(packet_fd, iov, 2);
        if (n <= PACKET_HDR_LEN) {
            continue;
        }
        buf[10] = 0;
        buf[11] = 0;
        (void) write(tap_fd, buf, (size_t) n + VNET_HDR_LEN - PACKET_HDR_LEN);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int batched = argc == 4 && strcmp(argv[1], "--batch") == 0;
    if (argc != 3 && !batched) {
        fprintf(stderr, "usage: %s [--batch] TAP IFNAME\n", argv[0]);
        return 2;
    }
    tap_fd = open_vnet_tap(argv[argc - 2]);
    packet_fd = open_packet_socket(argv[argc - 1]);
    pthread_t out, in;
    if (pthread_create(&out, NULL, batched ? tap_to_interface_batched : tap_to_interface, NULL) != 0
            || pthread_create(&in, NULL, interface_to_tap, NULL) != 0) {
        perror("pthread_create");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    pthread_join(out, NULL);
    return 0;
}
