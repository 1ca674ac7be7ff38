/*
 * The C floors' TAP (bench/tap-loop.c, bench/sys-loop.c), opened exactly as vswitch opens its TAPs:
 * IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, a 12-byte virtio-net header (struct virtio_net_hdr_mrg_rxbuf),
 * CSUM and TSO offloads, so a floor's row differs from the switch's only in what the switch adds.
 * Header-only: each floor is built from its one .c file (cc finds this beside it).
 */
#ifndef VNET_TAP_H
#define VNET_TAP_H

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define VNET_HDR_LEN 12

/* Creates (or attaches to) TAP `name`; exits with a message on any failure. */
static int open_vnet_tap(const char *name)
{
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        perror("open /dev/net/tun");
        exit(1);
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        fprintf(stderr, "TUNSETIFF %s: %s\n", name, strerror(errno));
        exit(1);
    }
    int hdr = VNET_HDR_LEN;
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
        perror("TUNSETVNETHDRSZ");
        exit(1);
    }
    if (ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN) < 0) {
        perror("TUNSETOFFLOAD");
        exit(1);
    }
    return fd;
}

#endif
