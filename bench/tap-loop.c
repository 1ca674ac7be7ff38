/*
 * The namespace benchmark's floor: the least a user-space switch between two TAPs can do.
 *
 * Creates two TAP devices with the same flags vswitch uses (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR,
 * a 12-byte virtio-net header, CSUM and TSO offloads), prints "ready", then runs one thread per
 * direction: a blocking read() from one TAP and a write() of the same bytes, vnet header included,
 * to the other. No parsing, no learning, no epoll: every frame costs exactly one read and one write,
 * so a row for this program shows what the syscalls and the kernel's work cost on this machine and
 * everything a switch adds on top of that is the switch's own overhead.
 *
 * Build: cc -O2 -pthread -o tap-loop tap-loop.c      (bench/namespace-bench builds it itself)
 * Usage: tap-loop TAP_A TAP_B                          (as root; stops on SIGTERM/SIGINT)
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define VNET_HDR_LEN 12
#define MAX_FRAME (VNET_HDR_LEN + 65536)

struct pipe {
    int in;
    int out;
};

static int open_tap(const char *name)
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

static void *forward(void *arg)
{
    const struct pipe *p = arg;
    static __thread char buf[MAX_FRAME];
    for (;;) {
        ssize_t n = read(p->in, buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            perror("read");
            exit(1);
        }
        /* A full or vanished receiver drops the frame, as a switch would. */
        (void) write(p->out, buf, (size_t) n);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s TAP_A TAP_B\n", argv[0]);
        return 2;
    }
    int a = open_tap(argv[1]);
    int b = open_tap(argv[2]);
    static struct pipe ab, ba;
    ab.in = a;
    ab.out = b;
    ba.in = b;
    ba.out = a;
    pthread_t t1, t2;
    if (pthread_create(&t1, NULL, forward, &ab) != 0 || pthread_create(&t2, NULL, forward, &ba) != 0) {
        perror("pthread_create");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    pthread_join(t1, NULL);
    return 0;
}
