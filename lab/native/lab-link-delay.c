/*
 * lab-link-delay IN_IF OUT_IF MARK DELAY_MS JITTER_MS
 *
 * The lab's stand-in for netem's delay on kernels built without sch_netem
 * (lab/lab-netem.ts): a tc filter on OUT_IF redirects every unmarked frame
 * to a veth whose peer is IN_IF; this program reads them there, holds each
 * for DELAY_MS +/- JITTER_MS (uniform, as netem without a distribution
 * table) and sends it out of OUT_IF again with skb mark MARK, which that
 * filter lets through. Frames keep their order (netem may reorder under
 * jitter; the lab does not need reordering). At most QUEUE_MAX frames wait,
 * like netem's default limit of 1000; more are dropped. The vnet header
 * carries GSO/checksum state so large TCP segments pass unchanged.
 * Runs inside a lab namespace only; exits after 24 h at the latest.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define QUEUE_MAX 1000
#define FRAME_MAX (sizeof(struct virtio_net_hdr) + 65536 + ETH_HLEN)
#define LIFETIME_S (24 * 3600)

struct frame {
  struct frame *next;
  int64_t due_ns;
  size_t len;
  unsigned char data[];
};

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int packet_socket(int proto, unsigned ifindex) {
  int s = socket(AF_PACKET, SOCK_RAW, htons(proto));
  if (s < 0) return -1;
  int on = 1;
  if (setsockopt(s, SOL_PACKET, PACKET_VNET_HDR, &on, sizeof on) < 0) return -1;
  struct sockaddr_ll sll = {0};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(proto);
  sll.sll_ifindex = (int)ifindex;
  if (bind(s, (struct sockaddr *)&sll, sizeof sll) < 0) return -1;
  return s;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s IN_IF OUT_IF MARK DELAY_MS JITTER_MS\n", argv[0]);
    return 2;
  }
  unsigned in_if = if_nametoindex(argv[1]);
  unsigned out_if = if_nametoindex(argv[2]);
  unsigned mark = (unsigned)strtoul(argv[3], NULL, 0);
  int64_t delay_ns = (int64_t)(atof(argv[4]) * 1e6);
  int64_t jitter_ns = (int64_t)(atof(argv[5]) * 1e6);
  if (in_if == 0 || out_if == 0) {
    fprintf(stderr, "lab-link-delay: no interface %s\n", in_if == 0 ? argv[1] : argv[2]);
    return 2;
  }
  int rx = packet_socket(ETH_P_ALL, in_if);
  /* Protocol 0: a send-only socket, it never queues received frames. */
  int tx = packet_socket(0, out_if);
  if (rx < 0 || tx < 0 || setsockopt(tx, SOL_SOCKET, SO_MARK, &mark, sizeof mark) < 0) {
    perror("lab-link-delay: socket");
    return 1;
  }
  alarm(LIFETIME_S);
  srandom((unsigned)(now_ns() ^ getpid()));
  struct frame *head = NULL, *tail = NULL;
  int queued = 0;
  int64_t last_due = 0;
  static unsigned char buf[FRAME_MAX];
  struct sockaddr_ll to = {0};
  to.sll_family = AF_PACKET;
  to.sll_ifindex = (int)out_if;
  for (;;) {
    int64_t now = now_ns();
    while (head != NULL && head->due_ns <= now) {
      struct frame *f = head;
      head = f->next;
      if (head == NULL) tail = NULL;
      queued--;
      if (sendto(tx, f->data, f->len, 0, (struct sockaddr *)&to, sizeof to) < 0 && errno != ENOBUFS && errno != ENETDOWN && errno != ENXIO) {
        perror("lab-link-delay: send");
      }
      free(f);
    }
    int timeout = -1;
    if (head != NULL) timeout = (int)((head->due_ns - now + 999999) / 1000000);
    struct pollfd p = {.fd = rx, .events = POLLIN};
    int r = poll(&p, 1, timeout);
    if (r < 0 && errno != EINTR) {
      perror("lab-link-delay: poll");
      return 1;
    }
    if (r <= 0) continue;
    ssize_t n = recv(rx, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) continue;
    if (queued >= QUEUE_MAX) continue;
    struct frame *f = malloc(sizeof *f + (size_t)n);
    if (f == NULL) continue;
    int64_t d = delay_ns;
    if (jitter_ns > 0) d += (int64_t)((double)random() / RAND_MAX * 2 * jitter_ns) - jitter_ns;
    if (d < 0) d = 0;
    f->due_ns = now_ns() + d;
    if (f->due_ns < last_due) f->due_ns = last_due;
    last_due = f->due_ns;
    f->len = (size_t)n;
    f->next = NULL;
    memcpy(f->data, buf, (size_t)n);
    if (tail != NULL) tail->next = f;
    else head = f;
    tail = f;
    queued++;
  }
}
