/*
 * lab-nfs-sim: the SCVM's NFS stand-in in C (same options and behaviour as
 * lab/services/nfs-sim.ts): listens on LISTEN:PORT (192.168.33.2:2049) and answers each
 * connection with the serving node's name once a line (or 4 KB, or EOF) arrived, or after 2 s,
 * then closes. One per SCVM network namespace, so it must cost next to nothing (~1 MB).
 * The same address and port over UDP answer a datagram "io HOST SEQ\n" with "NODE SEQ\n"
 * (lab-io-probe's default: two packets per IO instead of a TCP connection).
 * The bind is retried every 500 ms: the lab may add the address just after starting it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 128
#define MAX_REQUEST_BYTES 4096
#define REQUEST_WAIT_MS 2000
#define BIND_RETRY_MS 500

static const char *usage = "usage: lab-nfs-sim --node NAME [--listen 192.168.33.2] [--port 2049] [--max-lifetime-s N]\n";

struct conn {
  int fd; /* -1 = free */
  long long deadline;
  size_t got;
};

static volatile sig_atomic_t stop_sig;

static void on_signal(int sig) { stop_sig = sig; }

static long long mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long num_opt(const char *name, const char *v, long min) {
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno || *end || end == v || n < min) {
    fprintf(stderr, "lab-nfs-sim: --%s must be a number >= %ld, got \"%s\"\n%s", name, min, v, usage);
    exit(2);
  }
  return n;
}

static void answer(struct conn *c, const char *reply, size_t len) {
  /* Small enough for the socket buffer: one non-blocking send, then FIN (as sock.end(reply)). */
  if (send(c->fd, reply, len, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0) shutdown(c->fd, SHUT_WR);
  close(c->fd);
  c->fd = -1;
}

static int try_udp(const struct sockaddr_in *addr) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (bind(fd, (const struct sockaddr *)addr, sizeof *addr) == 0) return fd;
  close(fd);
  return -1;
}

/* Replies from the bound address (192.168.33.2), along this namespace's route back. */
static void udp_answer(int ufd, const char *node) {
  for (int round = 0; round < 64; round++) {
    char buf[512];
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(ufd, buf, sizeof buf - 1, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
    if (n < 0) return;
    buf[n] = 0;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) buf[--n] = 0;
    const char *seq = strrchr(buf, ' ');
    char out[600];
    int ol = snprintf(out, sizeof out, "%s %s\n", node, seq != NULL ? seq + 1 : "0");
    sendto(ufd, out, (size_t)ol, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&from, fl);
  }
}

static int try_listen(const struct sockaddr_in *addr, const char *node, const char *listen_s, long port, char *last_err, size_t cap) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (const struct sockaddr *)addr, sizeof *addr) == 0 && listen(fd, 511) == 0) {
    last_err[0] = 0;
    return fd;
  }
  char msg[128];
  const char *name = strerrorname_np(errno);
  snprintf(msg, sizeof msg, "%s:%ld: %s", listen_s, port, name ? name : strerror(errno));
  if (strcmp(msg, last_err) != 0) fprintf(stderr, "nfs-sim %s: listen %s; retrying every %d ms\n", node, msg, BIND_RETRY_MS);
  snprintf(last_err, cap, "%s", msg);
  close(fd);
  return -1;
}

int main(int argc, char **argv) {
  const char *node = NULL, *listen_s = "192.168.33.2";
  long port = 2049, max_lifetime_s = 86400;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(n) (strcmp(a, "--" n) == 0 && v != NULL && ++i)
    if (OPT("node")) node = v;
    else if (OPT("listen")) listen_s = v;
    else if (OPT("port")) port = num_opt("port", v, 1);
    else if (OPT("max-lifetime-s")) max_lifetime_s = num_opt("max-lifetime-s", v, 1);
    else {
      fprintf(stderr, "lab-nfs-sim: unknown or incomplete option %s\n%s", a, usage);
      return 2;
    }
#undef OPT
  }
  if (node == NULL || *node == 0) {
    fprintf(stderr, "lab-nfs-sim: missing --node\n%s", usage);
    return 2;
  }
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, listen_s, &addr.sin_addr) != 1) {
    fprintf(stderr, "lab-nfs-sim: --listen must be an IPv4 address, got \"%s\"\n%s", listen_s, usage);
    return 2;
  }
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  char reply[512];
  size_t reply_len = (size_t)snprintf(reply, sizeof reply, "%s\n", node);
  static struct conn conns[MAX_CONNS];
  for (int i = 0; i < MAX_CONNS; i++) conns[i].fd = -1;
  char last_err[160] = "";
  long long end = mono_ms() + (long long)max_lifetime_s * 1000;
  int lfd = -1, ufd = -1;
  int announced = 0;

  while (!stop_sig) {
    long long now = mono_ms();
    if (now >= end) break;
    if (lfd < 0 || ufd < 0) {
      if (lfd < 0) lfd = try_listen(&addr, node, listen_s, port, last_err, sizeof last_err);
      if (lfd >= 0 && ufd < 0) ufd = try_udp(&addr);
      if (lfd >= 0 && ufd >= 0 && !announced) {
        printf("READY nfs-sim %s %s:%ld\n", node, listen_s, port);
        fflush(stdout);
        announced = 1;
      }
    }
    struct pollfd pfd[MAX_CONNS + 1];
    int idx[MAX_CONNS];
    int n = 0;
    int free_slots = 0;
    long long wake = lfd < 0 || ufd < 0 ? now + BIND_RETRY_MS : now + 1000;
    for (int i = 0; i < MAX_CONNS; i++) {
      if (conns[i].fd < 0) {
        free_slots++;
        continue;
      }
      idx[n] = i;
      pfd[n++] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
      if (conns[i].deadline < wake) wake = conns[i].deadline;
    }
    int nconn = n;
    int up = -1;
    if (ufd >= 0) {
      up = n;
      pfd[n++] = (struct pollfd){.fd = ufd, .events = POLLIN};
    }
    int lp = n;
    /* Full: leave new connections in the kernel backlog until a slot frees. */
    if (lfd >= 0 && free_slots > 0) pfd[n++] = (struct pollfd){.fd = lfd, .events = POLLIN};
    int r = poll(pfd, (nfds_t)n, wake > now ? (int)(wake - now) : 0);
    if (r < 0 && errno != EINTR) break;
    now = mono_ms();
    if (r > 0) {
      for (int k = 0; k < nconn; k++) {
        struct conn *c = &conns[idx[k]];
        if (pfd[k].revents == 0) continue;
        char buf[MAX_REQUEST_BYTES];
        ssize_t got = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (got < 0) { /* reset by the peer: nothing to answer */
          close(c->fd);
          c->fd = -1;
          continue;
        }
        c->got += (size_t)got;
        if (got == 0 || memchr(buf, '\n', (size_t)got) != NULL || c->got >= MAX_REQUEST_BYTES) answer(c, reply, reply_len);
      }
      if (up >= 0 && pfd[up].revents) udp_answer(ufd, node);
      if (n > lp && pfd[lp].revents) {
        for (int i = 0; i < MAX_CONNS; i++) {
          if (conns[i].fd >= 0) continue;
          int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) break;
          conns[i] = (struct conn){.fd = fd, .deadline = now + REQUEST_WAIT_MS, .got = 0};
        }
      }
    }
    for (int i = 0; i < MAX_CONNS; i++) {
      if (conns[i].fd >= 0 && now >= conns[i].deadline) answer(&conns[i], reply, reply_len);
    }
  }
  if (lfd >= 0) close(lfd);
  if (ufd >= 0) close(ufd);
  for (int i = 0; i < MAX_CONNS; i++) {
    if (conns[i].fd >= 0) close(conns[i].fd);
  }
  return 0;
}
