/*
 * lab-io-probe: the ESXi IO probe in C (same options, same JSON-lines records as
 * lab/services/host-monitor.ts, read by io-summary.ts). A node process per ESXi costs ~45 MB and
 * a steady share of a core; this one ~1 MB.
 *
 * Every period one IO to TARGET:PORT, recorded as {"t","type":"io","seq","ok","node"|"err","ms"};
 * errors are errno names as node reports them (ECONNREFUSED, ETIMEDOUT, EEMPTY, EBADREPLY).
 * --proto udp (default): one datagram "io HOST SEQ\n" from one unconnected socket (so each send
 * takes the namespace's current route and source address), answered "NODE SEQ\n" by lab-nfs-sim;
 * ICMP errors come back through IP_RECVERR (port unreachable = ECONNREFUSED). Two packets per IO
 * instead of a TCP connection's seven: at 64 hosts x 20 IO/s that is what keeps the lab idle.
 * --proto tcp: host-monitor.ts's exchange (connect, the same line, read the name to newline/EOF).
 * `ip monitor route` runs as a child (PDEATHSIG KILL) and each line becomes a "route" record.
 * Writes are plain write(2) appends, so nothing buffered is lost on SIGKILL.
 *
 * --hosts FILE (UDP only): one process probes every ESXi of a lab. Each line of FILE is
 * "NAME NETNS OUT"; the host's socket is made inside /run/netns/NETNS (setns there and back: a
 * socket keeps the namespace it was made in, and its sends follow that namespace's routes), its
 * route monitor is `ip -n NETNS monitor route`, and its records go to OUT exactly as a process of
 * its own would write them. One timer wakeup per period serves every host: 64 processes waking
 * 40 times a second each were most of a 64-node lab's idle CPU.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_REPLY 256
#define MAX_SLOTS 64
#define MAX_HOSTS 256
#define LINE_MAX_BYTES 8192

static const char *usage =
    "usage: lab-io-probe (--host NAME --out PATH | --hosts FILE) [--target 192.168.33.2] [--port 2049] [--period-ms 50] "
    "[--timeout-ms 300] [--max-lifetime-s 86400] [--max-bytes 536870912] [--proto udp|tcp] [--no-route-monitor] "
    "[--exit-with-parent]\n  FILE: one \"NAME NETNS OUT\" per line (UDP only)\n";

#define UDP_BUSY (-2)

struct slot {
  int fd; /* -1 = free, UDP_BUSY = a datagram in flight (no socket of its own) */
  long seq;
  long long t;        /* wall ms at start */
  long long deadline; /* monotonic ms */
  int connected;
  size_t got;
  char reply[MAX_REPLY + 1];
};

struct linebuf {
  char buf[LINE_MAX_BYTES];
  size_t len;
};

/* Everything one probed ESXi host has: what a process of its own had in globals. */
struct host {
  char name[128];
  char netns[128]; /* "" = this process's own namespace */
  int out_fd;
  long long bytes_written;
  int truncated;
  int in_flight;
  long seq;
  int ufd;
  pid_t mon;
  int mon_out, mon_err;
  struct linebuf lb_out, lb_err;
  struct slot slots[MAX_SLOTS];
};

static int sig_pipe[2];
static long long max_bytes = 512LL * 1024 * 1024;

static long long wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Appends s to buf as a JSON string (with quotes); returns the new length. */
static size_t json_str(char *buf, size_t len, size_t cap, const char *s) {
  if (len < cap) buf[len++] = '"';
  for (const unsigned char *p = (const unsigned char *)s; *p && len + 8 < cap; p++) {
    if (*p == '"' || *p == '\\') {
      buf[len++] = '\\';
      buf[len++] = (char)*p;
    } else if (*p == '\n') {
      buf[len++] = '\\';
      buf[len++] = 'n';
    } else if (*p == '\t') {
      buf[len++] = '\\';
      buf[len++] = 't';
    } else if (*p == '\r') {
      buf[len++] = '\\';
      buf[len++] = 'r';
    } else if (*p < 0x20) {
      len += (size_t)snprintf(buf + len, cap - len, "\\u%04x", *p);
    } else {
      buf[len++] = (char)*p;
    }
  }
  if (len < cap) buf[len++] = '"';
  return len;
}

static void write_line(struct host *h, const char *line, size_t len) {
  ssize_t off = 0;
  while ((size_t)off < len) {
    ssize_t n = write(h->out_fd, line + off, len - (size_t)off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    off += n;
  }
  h->bytes_written += (long long)len;
}

static void rec_simple(struct host *h, long long t, const char *type, const char *key, const char *value) {
  char buf[LINE_MAX_BYTES * 2 + 128];
  size_t len = (size_t)snprintf(buf, sizeof buf, "{\"t\":%lld,\"type\":\"%s\",\"%s\":", t, type, key);
  len = json_str(buf, len, sizeof buf - 3, value);
  buf[len++] = '}';
  buf[len++] = '\n';
  write_line(h, buf, len);
}

static const char *err_name(int e) {
  const char *n = strerrorname_np(e);
  return n != NULL ? n : "EIO";
}

static void on_signal(int sig) {
  int saved = errno;
  char c = (char)sig;
  if (write(sig_pipe[1], &c, 1) < 0) {
    /* pipe full: a stop is already pending */
  }
  errno = saved;
}

/* Enters /run/netns/NS (or, with ns NULL, the namespace behind self_fd). */
static int enter_netns(const char *ns, int self_fd) {
  if (ns == NULL) return setns(self_fd, CLONE_NEWNET);
  char p[300];
  snprintf(p, sizeof p, "/run/netns/%s", ns);
  int fd = open(p, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int r = setns(fd, CLONE_NEWNET);
  close(fd);
  return r;
}

static void start_monitor(struct host *h) {
  int o[2], e[2];
  if (pipe2(o, O_CLOEXEC) < 0 || pipe2(e, O_CLOEXEC) < 0) {
    h->mon = -1;
    return;
  }
  pid_t pid = fork();
  if (pid < 0) {
    h->mon = -1;
    return;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(o[1], 1);
    dup2(e[1], 2);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (h->netns[0]) execlp("ip", "ip", "-n", h->netns, "monitor", "route", (char *)NULL);
    else execlp("ip", "ip", "monitor", "route", (char *)NULL);
    dprintf(2, "cannot run ip: %s\n", strerror(errno));
    _exit(127);
  }
  close(o[1]);
  close(e[1]);
  fcntl(o[0], F_SETFL, O_NONBLOCK);
  fcntl(e[0], F_SETFL, O_NONBLOCK);
  h->mon = pid;
  h->mon_out = o[0];
  h->mon_err = e[0];
}

static void slot_finish(struct host *h, struct slot *s, int ok, const char *what) {
  char buf[MAX_REPLY * 2 + 256];
  long long ms = wall_ms() - s->t;
  size_t len;
  if (h->truncated) goto done;
  if (ok) {
    len = (size_t)snprintf(buf, sizeof buf, "{\"t\":%lld,\"type\":\"io\",\"seq\":%ld,\"ok\":true,\"node\":", s->t, s->seq);
    len = json_str(buf, len, sizeof buf - 64, what);
    len += (size_t)snprintf(buf + len, sizeof buf - len, ",\"ms\":%lld}\n", ms);
  } else {
    len = (size_t)snprintf(buf, sizeof buf, "{\"t\":%lld,\"type\":\"io\",\"seq\":%ld,\"ok\":false,\"err\":\"%s\",\"ms\":%lld}\n", s->t, s->seq, what, ms);
  }
  write_line(h, buf, len);
  if (h->bytes_written >= max_bytes) {
    h->truncated = 1;
    len = (size_t)snprintf(buf, sizeof buf, "{\"t\":%lld,\"type\":\"truncated\",\"bytes\":%lld}\n", wall_ms(), h->bytes_written);
    write_line(h, buf, len);
  }
done:
  if (s->fd >= 0) close(s->fd);
  s->fd = -1;
  h->in_flight--;
}

/* The reply trimmed of surrounding whitespace, as the node probe's trim(). */
static char *trimmed(char *s) {
  while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) s[--n] = 0;
  return s;
}

/* Reads what is there; finishes the probe on a full line, EOF, error or an oversized reply. */
static void slot_read(struct host *h, struct slot *s) {
  for (;;) {
    ssize_t n = read(s->fd, s->reply + s->got, MAX_REPLY + 1 - s->got);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return;
      slot_finish(h, s, 0, err_name(errno));
      return;
    }
    if (n == 0) {
      s->reply[s->got] = 0;
      char *r = trimmed(s->reply);
      if (*r) slot_finish(h, s, 1, r);
      else slot_finish(h, s, 0, "EEMPTY");
      return;
    }
    s->got += (size_t)n;
    s->reply[s->got] = 0;
    char *nl = memchr(s->reply, '\n', s->got);
    if (nl != NULL) {
      *nl = 0;
      slot_finish(h, s, 1, trimmed(s->reply));
      return;
    }
    if (s->got > MAX_REPLY) {
      slot_finish(h, s, 0, "EBADREPLY");
      return;
    }
  }
}

static struct slot *udp_slot(struct host *h, long seq) {
  for (int i = 0; i < MAX_SLOTS; i++) {
    if (h->slots[i].fd == UDP_BUSY && h->slots[i].seq == seq) return &h->slots[i];
  }
  return NULL; /* a late answer to a probe already recorded as timed out */
}

/* Answers ("NODE SEQ\n") and ICMP errors (our own "io HOST SEQ\n" comes back with them). */
static void udp_receive(struct host *h) {
  for (int round = 0; round < 64; round++) {
    char data[MAX_REPLY + 1];
    char ctrl[512];
    struct iovec iov = {.iov_base = data, .iov_len = MAX_REPLY};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl, .msg_controllen = sizeof ctrl};
    ssize_t n = recvmsg(h->ufd, &mh, MSG_DONTWAIT | MSG_ERRQUEUE);
    int is_err = n >= 0;
    if (!is_err) {
      mh.msg_controllen = 0;
      mh.msg_control = NULL;
      n = recvmsg(h->ufd, &mh, MSG_DONTWAIT);
    }
    if (n < 0) return;
    data[n] = 0;
    char *last = strrchr(trimmed(data), ' ');
    if (last == NULL) continue;
    *last = 0;
    struct slot *s = udp_slot(h, strtol(last + 1, NULL, 10));
    if (s == NULL) continue;
    if (!is_err) {
      slot_finish(h, s, 1, trimmed(data));
      continue;
    }
    int e = EIO;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) e = (int)((struct sock_extended_err *)CMSG_DATA(c))->ee_errno;
    }
    slot_finish(h, s, 0, err_name(e));
  }
}

/* Drains a monitor pipe into records; returns 0 at EOF. is_err: stderr lines are trimmed whole. */
static int drain(struct host *h, int fd, struct linebuf *lb, const char *type, const char *key, int is_err) {
  for (;;) {
    ssize_t n = read(fd, lb->buf + lb->len, sizeof lb->buf - 1 - lb->len);
    if (n < 0) return errno == EAGAIN || errno == EINTR ? 1 : 0;
    if (n == 0) return 0;
    long long now = wall_ms();
    lb->len += (size_t)n;
    char *start = lb->buf;
    char *nl;
    while ((nl = memchr(start, '\n', lb->len - (size_t)(start - lb->buf))) != NULL) {
      *nl = 0;
      char *line = start;
      size_t l = strlen(line);
      while (l > 0 && (line[l - 1] == ' ' || line[l - 1] == '\t' || line[l - 1] == '\r')) line[--l] = 0; /* trimEnd */
      if (is_err) line = trimmed(line);
      if (*line) rec_simple(h, now, type, key, line);
      start = nl + 1;
    }
    size_t rest = lb->len - (size_t)(start - lb->buf);
    memmove(lb->buf, start, rest);
    lb->len = rest;
    if (lb->len >= sizeof lb->buf - 1) { /* an absurd line: record what we have */
      lb->buf[lb->len] = 0;
      rec_simple(h, now, type, key, lb->buf);
      lb->len = 0;
    }
  }
}

static long num_opt(const char *name, const char *v, long min) {
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno || *end || end == v || n < min) {
    fprintf(stderr, "lab-io-probe: --%s must be a number >= %ld, got \"%s\"\n%s", name, min, v, usage);
    exit(2);
  }
  return n;
}

/* FILE's "NAME NETNS OUT" lines into hosts; returns the count, or -1 (message printed). */
static int read_hosts(const char *file, struct host **hosts) {
  FILE *f = fopen(file, "r");
  if (f == NULL) {
    fprintf(stderr, "lab-io-probe: cannot read --hosts %s: %s\n", file, strerror(errno));
    return -1;
  }
  char line[1024];
  int n = 0, lineno = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    lineno++;
    char name[128], ns[128], out[700];
    char extra[2];
    int k = sscanf(line, "%127s %127s %699s %1s", name, ns, out, extra);
    if (k <= 0) continue;
    if (k != 3 || n >= MAX_HOSTS) {
      fprintf(stderr, "lab-io-probe: %s:%d: expected \"NAME NETNS OUT\" (at most %d hosts)\n", file, lineno, MAX_HOSTS);
      fclose(f);
      return -1;
    }
    struct host *h = calloc(1, sizeof *h);
    if (h == NULL) return -1;
    snprintf(h->name, sizeof h->name, "%s", name);
    snprintf(h->netns, sizeof h->netns, "%s", ns);
    h->out_fd = open(out, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (h->out_fd < 0) {
      fprintf(stderr, "lab-io-probe: %s:%d: cannot open %s: %s\n", file, lineno, out, strerror(errno));
      fclose(f);
      return -1;
    }
    hosts[n++] = h;
  }
  fclose(f);
  if (n == 0) fprintf(stderr, "lab-io-probe: --hosts %s lists no host\n", file);
  return n == 0 ? -1 : n;
}

/* Where a poll entry came from. */
struct origin {
  struct host *h;
  int what; /* 0 udp, 1 monitor stdout, 2 monitor stderr, 3 tcp slot */
  int slot;
};

int main(int argc, char **argv) {
  const char *host = NULL, *out = NULL, *hosts_file = NULL, *target = "192.168.33.2";
  long port = 2049, period_ms = 50, timeout_ms = 300, max_lifetime_s = 86400;
  int route_monitor = 1, exit_with_parent = 0, udp = 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(n) (strcmp(a, "--" n) == 0 && v != NULL && ++i)
    if (OPT("host")) host = v;
    else if (OPT("out")) out = v;
    else if (OPT("hosts")) hosts_file = v;
    else if (OPT("target")) target = v;
    else if (OPT("port")) port = num_opt("port", v, 1);
    else if (OPT("period-ms")) period_ms = num_opt("period-ms", v, 5);
    else if (OPT("timeout-ms")) timeout_ms = num_opt("timeout-ms", v, 10);
    else if (OPT("max-lifetime-s")) max_lifetime_s = num_opt("max-lifetime-s", v, 1);
    else if (OPT("max-bytes")) max_bytes = num_opt("max-bytes", v, 4096);
    else if (OPT("proto")) {
      if (strcmp(v, "udp") != 0 && strcmp(v, "tcp") != 0) {
        fprintf(stderr, "lab-io-probe: --proto must be udp or tcp, got \"%s\"\n%s", v, usage);
        return 2;
      }
      udp = strcmp(v, "udp") == 0;
    } else if (strcmp(a, "--no-route-monitor") == 0) route_monitor = 0;
    else if (strcmp(a, "--exit-with-parent") == 0) exit_with_parent = 1;
    else {
      fprintf(stderr, "lab-io-probe: unknown or incomplete option %s\n%s", a, usage);
      return 2;
    }
#undef OPT
  }
  int single = hosts_file == NULL;
  if (single ? (host == NULL || *host == 0 || out == NULL || *out == 0) : (host != NULL || out != NULL || !udp)) {
    fprintf(stderr, "lab-io-probe: give --host and --out, or --hosts alone (UDP only)\n%s", usage);
    return 2;
  }
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, target, &dst.sin_addr) != 1) {
    fprintf(stderr, "lab-io-probe: --target must be an IPv4 address, got \"%s\"\n%s", target, usage);
    return 2;
  }
  static struct host *hosts[MAX_HOSTS];
  int nh;
  if (single) {
    struct host *h = calloc(1, sizeof *h);
    if (h == NULL) return 1;
    snprintf(h->name, sizeof h->name, "%s", host);
    h->out_fd = open(out, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (h->out_fd < 0) {
      fprintf(stderr, "lab-io-probe: cannot open --out %s: %s\n", out, strerror(errno));
      return 2;
    }
    hosts[0] = h;
    nh = 1;
  } else {
    nh = read_hosts(hosts_file, hosts);
    if (nh < 0) return 2;
  }
  if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) return 1;
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGCHLD, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  int self_ns = single ? -1 : open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (!single && self_ns < 0) {
    fprintf(stderr, "lab-io-probe: cannot open /proc/self/ns/net: %s\n", strerror(errno));
    return 1;
  }
  for (int k = 0; k < nh; k++) {
    struct host *h = hosts[k];
    h->ufd = h->mon_out = h->mon_err = -1;
    h->mon = -1;
    for (int i = 0; i < MAX_SLOTS; i++) h->slots[i].fd = -1;
    char buf[LINE_MAX_BYTES];
    size_t len = (size_t)snprintf(buf, sizeof buf, "{\"t\":%lld,\"type\":\"start\",\"host\":", wall_ms());
    len = json_str(buf, len, sizeof buf - 200, h->name);
    len += (size_t)snprintf(buf + len, sizeof buf - len, ",\"target\":\"%s:%ld\",\"periodMs\":%ld,\"timeoutMs\":%ld,\"pid\":%d}\n", target, port, period_ms, timeout_ms, (int)getpid());
    write_line(h, buf, len);
    if (route_monitor) {
      start_monitor(h);
      if (h->mon < 0) rec_simple(h, wall_ms(), "monitor-error", "err", strerror(errno));
    }
    if (!udp) continue;
    if (!single && enter_netns(h->netns, -1) < 0) {
      fprintf(stderr, "lab-io-probe: %s: cannot enter network namespace %s: %s\n", h->name, h->netns, strerror(errno));
      return 1;
    }
    h->ufd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    int failed = h->ufd < 0 || setsockopt(h->ufd, IPPROTO_IP, IP_RECVERR, &one, sizeof one) < 0;
    int saved = errno;
    if (!single && enter_netns(NULL, self_ns) < 0) {
      fprintf(stderr, "lab-io-probe: cannot return to the first network namespace: %s\n", strerror(errno));
      return 1;
    }
    if (failed) {
      fprintf(stderr, "lab-io-probe: %s: udp socket: %s\n", h->name, strerror(saved));
      return 1;
    }
  }
  int max_in_flight = (int)((timeout_ms + period_ms - 1) / period_ms) + 1;
  if (max_in_flight > MAX_SLOTS) max_in_flight = MAX_SLOTS;
  pid_t parent = getppid();
  long long start = mono_ms();
  long long next_tick = start + period_ms;
  long long next_parent_check = start + 1000;
  long long end = start + (long long)max_lifetime_s * 1000;
  const char *reason = NULL;

  if (single) printf("READY host-monitor %s %s\n", host, out);
  else printf("READY host-monitor %d hosts from %s\n", nh, hosts_file);
  fflush(stdout);

  int pcap = 1 + nh * (3 + MAX_SLOTS);
  struct pollfd *pfd = calloc((size_t)pcap, sizeof *pfd);
  struct origin *org = calloc((size_t)pcap, sizeof *org);
  if (pfd == NULL || org == NULL) return 1;
  while (reason == NULL) {
    int n = 0;
    pfd[n++] = (struct pollfd){.fd = sig_pipe[0], .events = POLLIN};
    long long now = mono_ms();
    long long wake = next_tick;
    for (int k = 0; k < nh; k++) {
      struct host *h = hosts[k];
      if (h->ufd >= 0) {
        org[n] = (struct origin){h, 0, 0};
        pfd[n++] = (struct pollfd){.fd = h->ufd, .events = POLLIN};
      }
      if (h->mon_out >= 0) {
        org[n] = (struct origin){h, 1, 0};
        pfd[n++] = (struct pollfd){.fd = h->mon_out, .events = POLLIN};
      }
      if (h->mon_err >= 0) {
        org[n] = (struct origin){h, 2, 0};
        pfd[n++] = (struct pollfd){.fd = h->mon_err, .events = POLLIN};
      }
      for (int i = 0; i < MAX_SLOTS; i++) {
        struct slot *s = &h->slots[i];
        if (s->fd == UDP_BUSY && s->deadline < wake) wake = s->deadline;
        if (s->fd < 0) continue;
        org[n] = (struct origin){h, 3, i};
        pfd[n++] = (struct pollfd){.fd = s->fd, .events = s->connected ? POLLIN : POLLOUT};
        if (s->deadline < wake) wake = s->deadline;
      }
    }
    int wait = wake > now ? (int)(wake - now) : 0;
    int r = poll(pfd, (nfds_t)n, wait);
    if (r < 0 && errno != EINTR) {
      reason = "poll-failed";
      break;
    }
    if (r > 0) {
      if (pfd[0].revents & POLLIN) {
        char c;
        while (read(sig_pipe[0], &c, 1) == 1) {
          if (c == SIGTERM) reason = "SIGTERM";
          else if (c == SIGINT) reason = "SIGINT";
        }
      }
      for (int k = 1; k < n; k++) {
        if (pfd[k].revents == 0) continue;
        struct host *h = org[k].h;
        if (org[k].what == 0) {
          udp_receive(h);
        } else if (org[k].what == 1) {
          if (!drain(h, h->mon_out, &h->lb_out, "route", "line", 0)) {
            close(h->mon_out);
            h->mon_out = -1;
          }
        } else if (org[k].what == 2) {
          if (!drain(h, h->mon_err, &h->lb_err, "monitor-error", "err", 1)) {
            close(h->mon_err);
            h->mon_err = -1;
          }
        } else {
          struct slot *s = &h->slots[org[k].slot];
          if (s->fd < 0) continue;
          if (!s->connected) {
            int err = 0;
            socklen_t el = sizeof err;
            getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
            if (err != 0) {
              slot_finish(h, s, 0, err_name(err));
              continue;
            }
            s->connected = 1;
            char req[512];
            int rl = snprintf(req, sizeof req, "io %s %ld\n", h->name, s->seq);
            if (send(s->fd, req, (size_t)rl, MSG_NOSIGNAL) < 0) slot_finish(h, s, 0, err_name(errno));
          } else {
            slot_read(h, s);
          }
        }
      }
    }
    for (int k = 0; k < nh; k++) {
      struct host *h = hosts[k];
      /* The monitor gone: say so once, as host-monitor.ts does. */
      if (h->mon > 0 && h->mon_out < 0 && h->mon_err < 0) {
        int st;
        if (waitpid(h->mon, &st, 0) == h->mon) {
          char m[96];
          if (WIFEXITED(st)) snprintf(m, sizeof m, "ip monitor exited (%d)", WEXITSTATUS(st));
          else snprintf(m, sizeof m, "ip monitor exited (%s)", sigabbrev_np(WTERMSIG(st)) ? sigabbrev_np(WTERMSIG(st)) : "signal");
          rec_simple(h, wall_ms(), "monitor-error", "err", m);
        }
        h->mon = -1;
      }
    }
    now = mono_ms();
    for (int k = 0; k < nh; k++) {
      struct host *h = hosts[k];
      for (int i = 0; i < MAX_SLOTS; i++) {
        if (h->slots[i].fd != -1 && now >= h->slots[i].deadline) slot_finish(h, &h->slots[i], 0, "ETIMEDOUT");
      }
    }
    if (now >= next_tick) {
      /* Missed ticks (a stalled machine) are skipped, not burst. */
      while (next_tick <= now) next_tick += period_ms;
      for (int k = 0; k < nh; k++) {
        struct host *h = hosts[k];
        if (h->in_flight >= max_in_flight || h->truncated) continue;
        int i = 0;
        while (i < MAX_SLOTS && h->slots[i].fd != -1) i++;
        struct slot *s = &h->slots[i];
        s->seq = ++h->seq;
        s->t = wall_ms();
        s->deadline = now + timeout_ms;
        s->connected = 0;
        s->got = 0;
        h->in_flight++;
        if (udp) {
          char req[512];
          int rl = snprintf(req, sizeof req, "io %s %ld\n", h->name, s->seq);
          s->fd = UDP_BUSY;
          if (sendto(h->ufd, req, (size_t)rl, MSG_NOSIGNAL, (struct sockaddr *)&dst, sizeof dst) < 0) slot_finish(h, s, 0, err_name(errno));
          continue;
        }
        s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s->fd < 0) {
          s->fd = open("/dev/null", O_RDONLY | O_CLOEXEC); /* so finish can close something */
          slot_finish(h, s, 0, err_name(errno));
        } else {
          int one = 1;
          setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          if (connect(s->fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) slot_finish(h, s, 0, err_name(errno));
        }
      }
    }
    if (now >= end) reason = "lifetime";
    if (exit_with_parent && now >= next_parent_check) {
      next_parent_check = now + 1000;
      if (getppid() != parent) reason = "parent-exited";
    }
  }
  for (int k = 0; k < nh; k++) {
    struct host *h = hosts[k];
    if (h->mon > 0) kill(h->mon, SIGTERM);
    rec_simple(h, wall_ms(), "stop", "reason", reason);
    close(h->out_fd);
  }
  return 0;
}
