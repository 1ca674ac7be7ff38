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
 * Two other modes measure, in C, levers a switch could pull (docs/latency.md, "Second pass"):
 * --one-thread serves both TAPs from one thread (namespace-bench row c-loop-1t), --uring does so
 * through io_uring (row c-loop-uring).
 *
 * Build: cc -O2 -pthread -o tap-loop tap-loop.c -luring     (bench/namespace-bench builds it itself)
 * Usage: tap-loop [--one-thread | --uring] TAP_A TAP_B (as root; stops on SIGTERM/SIGINT)
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <liburing.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vnet-tap.h"
#define MAX_FRAME (VNET_HDR_LEN + 65536)

struct pipe {
    int in;
    int out;
};

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

/*
 * One thread for both TAPs: non-blocking fds in one epoll set, each ready TAP read until it is
 * empty. A ping's reply is queued on TAP B inside the write of its request (the kernel answers
 * in that write), so the next epoll_wait returns at once, on a warm thread, with no wake-up.
 */
static void one_thread(int a, int b)
{
    static char buf[MAX_FRAME];
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN };
    fcntl(a, F_SETFL, fcntl(a, F_GETFL) | O_NONBLOCK);
    fcntl(b, F_SETFL, fcntl(b, F_GETFL) | O_NONBLOCK);
    ev.data.fd = a;
    epoll_ctl(ep, EPOLL_CTL_ADD, a, &ev);
    ev.data.fd = b;
    epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev);
    printf("ready\n");
    fflush(stdout);
    struct epoll_event ready[2];
    for (;;) {
        int n = epoll_wait(ep, ready, 2, -1);
        for (int i = 0; i < n; i++) {
            int in = ready[i].data.fd;
            int out = in == a ? b : a;
            ssize_t len;
            while ((len = read(in, buf, sizeof(buf))) > 0) {
                (void) write(out, buf, (size_t) len);
            }
        }
    }
}

/*
 * io_uring, one thread for both TAPs: URING_DEPTH reads stay queued on each TAP, each into its
 * own buffer; a completed read becomes a write of that buffer to the other TAP, a completed write
 * queues the buffer's read again. All new submissions of a round go in the io_uring_enter that
 * also waits for the next completions, so a busy loop costs one system call per round, not two per
 * frame.
 */
#define URING_DEPTH 32

struct slot {
    int in;
    int out;
    int writing;
    char *buf;
};

static void queue_read(struct io_uring *ring, struct slot *s)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    io_uring_prep_read(sqe, s->in, s->buf, MAX_FRAME, 0);
    io_uring_sqe_set_data(sqe, s);
    s->writing = 0;
}

static void uring(int a, int b)
{
    struct io_uring ring;
    int err = io_uring_queue_init(4 * URING_DEPTH, &ring, 0);
    if (err < 0) {
        fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-err));
        exit(1);
    }
    static struct slot slots[2 * URING_DEPTH];
    for (int i = 0; i < 2 * URING_DEPTH; i++) {
        slots[i].in = i < URING_DEPTH ? a : b;
        slots[i].out = i < URING_DEPTH ? b : a;
        slots[i].buf = malloc(MAX_FRAME);
        queue_read(&ring, &slots[i]);
    }
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        io_uring_submit_and_wait(&ring, 1);
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            struct slot *s = io_uring_cqe_get_data(cqe);
            seen++;
            if (!s->writing && cqe->res > 0) {
                /* A full or vanished receiver drops the frame, as a switch would. */
                struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
                io_uring_prep_write(sqe, s->out, s->buf, (unsigned) cqe->res, 0);
                io_uring_sqe_set_data(sqe, s);
                s->writing = 1;
            } else {
                queue_read(&ring, s);
            }
        }
        io_uring_cq_advance(&ring, seen);
    }
}

int main(int argc, char **argv)
{
    const char *mode = argc == 4 ? argv[1] : "";
    if (argc != 3 && strcmp(mode, "--one-thread") != 0 && strcmp(mode, "--uring") != 0) {
        fprintf(stderr, "usage: %s [--one-thread | --uring] TAP_A TAP_B\n", argv[0]);
        return 2;
    }
    int a = open_vnet_tap(argv[argc - 2]);
    int b = open_vnet_tap(argv[argc - 1]);
    if (strcmp(mode, "--one-thread") == 0) {
        one_thread(a, b);
    }
    if (strcmp(mode, "--uring") == 0) {
        uring(a, b);
    }
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
