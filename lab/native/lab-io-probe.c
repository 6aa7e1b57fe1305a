/*
 * lab-io-probe: the per-ESXi IO probe in C (same options, same JSON-lines records as
 * lab/services/host-monitor.ts, read by io-summary.ts). One per ESXi network namespace: a node
 * process there costs ~45 MB and a steady share of a core; this one ~1 MB and a few ms of CPU
 * per second, which is what lets a 64-node lab (128 hosts) idle on 2 cores.
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
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
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
#define LINE_MAX_BYTES 8192

static const char *usage =
    "usage: lab-io-probe --host NAME --out PATH [--target 192.168.33.2] [--port 2049] [--period-ms 50] [--timeout-ms 300] "
    "[--max-lifetime-s 86400] [--max-bytes 536870912] [--proto udp|tcp] [--no-route-monitor] [--exit-with-parent]\n";

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

static int out_fd = -1;
static long long bytes_written;
static int sig_pipe[2];

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

/* rec: printf-style body after {"t":T,; %J in the format is not supported, strings are pre-escaped. */
static void write_line(const char *line, size_t len) {
  ssize_t off = 0;
  while ((size_t)off < len) {
    ssize_t n = write(out_fd, line + off, len - (size_t)off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    off += n;
  }
  bytes_written += (long long)len;
}

static void rec_simple(long long t, const char *type, const char *key, const char *value) {
  char buf[LINE_MAX_BYTES * 2 + 128];
  size_t len = (size_t)snprintf(buf, sizeof buf, "{\"t\":%lld,\"type\":\"%s\",\"%s\":", t, type, key);
  len = json_str(buf, len, sizeof buf - 3, value);
  buf[len++] = '}';
  buf[len++] = '\n';
  write_line(buf, len);
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

static pid_t start_monitor(int *out_pipe, int *err_pipe) {
  int o[2], e[2];
  if (pipe2(o, O_CLOEXEC) < 0 || pipe2(e, O_CLOEXEC) < 0) return -1;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(o[1], 1);
    dup2(e[1], 2);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execlp("ip", "ip", "monitor", "route", (char *)NULL);
    dprintf(2, "cannot run ip: %s\n", strerror(errno));
    _exit(127);
  }
  close(o[1]);
  close(e[1]);
  fcntl(o[0], F_SETFL, O_NONBLOCK);
  fcntl(e[0], F_SETFL, O_NONBLOCK);
  *out_pipe = o[0];
  *err_pipe = e[0];
  return pid;
}

static void slot_finish(struct slot *s, int ok, const char *what, int *in_flight, int *truncated, long long max_bytes) {
  char buf[MAX_REPLY * 2 + 256];
  long long ms = wall_ms() - s->t;
  size_t len;
  if (*truncated) goto done;
  if (ok) {
    len = (size_t)snprintf(buf, sizeof buf, "{\"t\":%lld,\"type\":\"io\",\"seq\":%ld,\"ok\":true,\"node\":", s->t, s->seq);
    len = json_str(buf, len, sizeof buf - 64, what);
    len += (size_t)snprintf(buf + len, sizeof buf - len, ",\"ms\":%lld}\n", ms);
  } else {
    len = (size_t)snprintf(buf, sizeof buf, "{\"t\":%lld,\"type\":\"io\",\"seq\":%ld,\"ok\":false,\"err\":\"%s\",\"ms\":%lld}\n", s->t, s->seq, what, ms);
  }
  write_line(buf, len);
  if (bytes_written >= max_bytes) {
    *truncated = 1;
    len = (size_t)snprintf(buf, sizeof buf, "{\"t\":%lld,\"type\":\"truncated\",\"bytes\":%lld}\n", wall_ms(), bytes_written);
    write_line(buf, len);
  }
done:
  if (s->fd >= 0) close(s->fd);
  s->fd = -1;
  (*in_flight)--;
}

/* The reply trimmed of surrounding whitespace, as the node probe's trim(). */
static char *trimmed(char *s) {
  while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) s[--n] = 0;
  return s;
}

/* Reads what is there; finishes the probe on a full line, EOF, error or an oversized reply. */
static void slot_read(struct slot *s, int *in_flight, int *truncated, long long max_bytes) {
  for (;;) {
    ssize_t n = read(s->fd, s->reply + s->got, MAX_REPLY + 1 - s->got);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return;
      slot_finish(s, 0, err_name(errno), in_flight, truncated, max_bytes);
      return;
    }
    if (n == 0) {
      s->reply[s->got] = 0;
      char *r = trimmed(s->reply);
      if (*r) slot_finish(s, 1, r, in_flight, truncated, max_bytes);
      else slot_finish(s, 0, "EEMPTY", in_flight, truncated, max_bytes);
      return;
    }
    s->got += (size_t)n;
    s->reply[s->got] = 0;
    char *nl = memchr(s->reply, '\n', s->got);
    if (nl != NULL) {
      *nl = 0;
      slot_finish(s, 1, trimmed(s->reply), in_flight, truncated, max_bytes);
      return;
    }
    if (s->got > MAX_REPLY) {
      slot_finish(s, 0, "EBADREPLY", in_flight, truncated, max_bytes);
      return;
    }
  }
}

static struct slot *udp_slot(struct slot *slots, long seq) {
  for (int i = 0; i < MAX_SLOTS; i++) {
    if (slots[i].fd == UDP_BUSY && slots[i].seq == seq) return &slots[i];
  }
  return NULL; /* a late answer to a probe already recorded as timed out */
}

/* Answers ("NODE SEQ\n") and ICMP errors (our own "io HOST SEQ\n" comes back with them). */
static void udp_receive(int ufd, struct slot *slots, int *in_flight, int *truncated, long long max_bytes) {
  for (int round = 0; round < 64; round++) {
    char data[MAX_REPLY + 1];
    char ctrl[512];
    struct iovec iov = {.iov_base = data, .iov_len = MAX_REPLY};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl, .msg_controllen = sizeof ctrl};
    ssize_t n = recvmsg(ufd, &mh, MSG_DONTWAIT | MSG_ERRQUEUE);
    int is_err = n >= 0;
    if (!is_err) {
      mh.msg_controllen = 0;
      mh.msg_control = NULL;
      n = recvmsg(ufd, &mh, MSG_DONTWAIT);
    }
    if (n < 0) return;
    data[n] = 0;
    char *last = strrchr(trimmed(data), ' ');
    if (last == NULL) continue;
    *last = 0;
    struct slot *s = udp_slot(slots, strtol(last + 1, NULL, 10));
    if (s == NULL) continue;
    if (!is_err) {
      slot_finish(s, 1, trimmed(data), in_flight, truncated, max_bytes);
      continue;
    }
    int e = EIO;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) e = (int)((struct sock_extended_err *)CMSG_DATA(c))->ee_errno;
    }
    slot_finish(s, 0, err_name(e), in_flight, truncated, max_bytes);
  }
}

struct linebuf {
  char buf[LINE_MAX_BYTES];
  size_t len;
};

/* Drains a monitor pipe into records; returns 0 at EOF. trim_all: stderr lines are trimmed whole. */
static int drain(int fd, struct linebuf *lb, const char *type, const char *key, int is_err) {
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
      if (*line) rec_simple(now, type, key, line);
      start = nl + 1;
    }
    size_t rest = lb->len - (size_t)(start - lb->buf);
    memmove(lb->buf, start, rest);
    lb->len = rest;
    if (lb->len >= sizeof lb->buf - 1) { /* an absurd line: record what we have */
      lb->buf[lb->len] = 0;
      rec_simple(now, type, key, lb->buf);
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

int main(int argc, char **argv) {
  const char *host = NULL, *out = NULL, *target = "192.168.33.2";
  long port = 2049, period_ms = 50, timeout_ms = 300, max_lifetime_s = 86400;
  long long max_bytes = 512LL * 1024 * 1024;
  int route_monitor = 1, exit_with_parent = 0, udp = 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(n) (strcmp(a, "--" n) == 0 && v != NULL && ++i)
    if (OPT("host")) host = v;
    else if (OPT("out")) out = v;
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
  if (host == NULL || *host == 0 || out == NULL || *out == 0) {
    fprintf(stderr, "lab-io-probe: missing --host or --out\n%s", usage);
    return 2;
  }
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, target, &dst.sin_addr) != 1) {
    fprintf(stderr, "lab-io-probe: --target must be an IPv4 address, got \"%s\"\n%s", target, usage);
    return 2;
  }
  out_fd = open(out, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (out_fd < 0) {
    fprintf(stderr, "lab-io-probe: cannot open --out %s: %s\n", out, strerror(errno));
    return 2;
  }
  if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) return 1;
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGCHLD, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  char buf[LINE_MAX_BYTES];
  size_t len = (size_t)snprintf(buf, sizeof buf, "{\"t\":%lld,\"type\":\"start\",\"host\":", wall_ms());
  len = json_str(buf, len, sizeof buf - 200, host);
  len += (size_t)snprintf(buf + len, sizeof buf - len, ",\"target\":\"%s:%ld\",\"periodMs\":%ld,\"timeoutMs\":%ld,\"pid\":%d}\n", target, port, period_ms, timeout_ms, (int)getpid());
  write_line(buf, len);

  int mon_out = -1, mon_err = -1;
  pid_t mon = -1;
  if (route_monitor) {
    mon = start_monitor(&mon_out, &mon_err);
    if (mon < 0) rec_simple(wall_ms(), "monitor-error", "err", strerror(errno));
  }
  int ufd = -1;
  if (udp) {
    ufd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (ufd < 0 || setsockopt(ufd, IPPROTO_IP, IP_RECVERR, &one, sizeof one) < 0) {
      fprintf(stderr, "lab-io-probe: udp socket: %s\n", strerror(errno));
      return 1;
    }
  }
  static struct linebuf lb_out, lb_err;
  static struct slot slots[MAX_SLOTS];
  for (int i = 0; i < MAX_SLOTS; i++) slots[i].fd = -1;
  int max_in_flight = (int)((timeout_ms + period_ms - 1) / period_ms) + 1;
  if (max_in_flight > MAX_SLOTS) max_in_flight = MAX_SLOTS;
  int in_flight = 0, truncated = 0;
  long seq = 0;
  pid_t parent = getppid();
  long long start = mono_ms();
  long long next_tick = start + period_ms;
  long long next_parent_check = start + 1000;
  long long end = start + (long long)max_lifetime_s * 1000;
  const char *reason = NULL;

  printf("READY host-monitor %s %s\n", host, out);
  fflush(stdout);

  while (reason == NULL) {
    struct pollfd pfd[MAX_SLOTS + 3];
    int idx[MAX_SLOTS];
    int n = 0;
    pfd[n++] = (struct pollfd){.fd = sig_pipe[0], .events = POLLIN};
    int mo = -1, me = -1, uo = -1;
    if (ufd >= 0) {
      uo = n;
      pfd[n++] = (struct pollfd){.fd = ufd, .events = POLLIN};
    }
    if (mon_out >= 0) {
      mo = n;
      pfd[n++] = (struct pollfd){.fd = mon_out, .events = POLLIN};
    }
    if (mon_err >= 0) {
      me = n;
      pfd[n++] = (struct pollfd){.fd = mon_err, .events = POLLIN};
    }
    int first_slot = n;
    long long now = mono_ms();
    long long wake = next_tick;
    for (int i = 0; i < MAX_SLOTS; i++) {
      if (slots[i].fd == UDP_BUSY && slots[i].deadline < wake) wake = slots[i].deadline;
      if (slots[i].fd < 0) continue;
      idx[n - first_slot] = i;
      pfd[n++] = (struct pollfd){.fd = slots[i].fd, .events = slots[i].connected ? POLLIN : POLLOUT};
      if (slots[i].deadline < wake) wake = slots[i].deadline;
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
      if (uo >= 0 && pfd[uo].revents) udp_receive(ufd, slots, &in_flight, &truncated, max_bytes);
      if (mo >= 0 && pfd[mo].revents) {
        if (!drain(mon_out, &lb_out, "route", "line", 0)) {
          close(mon_out);
          mon_out = -1;
        }
      }
      if (me >= 0 && pfd[me].revents) {
        if (!drain(mon_err, &lb_err, "monitor-error", "err", 1)) {
          close(mon_err);
          mon_err = -1;
        }
      }
      for (int k = first_slot; k < n; k++) {
        struct slot *s = &slots[idx[k - first_slot]];
        if (s->fd < 0 || pfd[k].revents == 0) continue;
        if (!s->connected) {
          int err = 0;
          socklen_t el = sizeof err;
          getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
          if (err != 0) {
            slot_finish(s, 0, err_name(err), &in_flight, &truncated, max_bytes);
            continue;
          }
          s->connected = 1;
          char req[512];
          int rl = snprintf(req, sizeof req, "io %s %ld\n", host, s->seq);
          if (send(s->fd, req, (size_t)rl, MSG_NOSIGNAL) < 0) slot_finish(s, 0, err_name(errno), &in_flight, &truncated, max_bytes);
        } else {
          slot_read(s, &in_flight, &truncated, max_bytes);
        }
      }
    }
    /* The monitor gone: say so once, as host-monitor.ts does. */
    if (mon > 0 && mon_out < 0 && mon_err < 0) {
      int st;
      if (waitpid(mon, &st, 0) == mon) {
        char m[96];
        if (WIFEXITED(st)) snprintf(m, sizeof m, "ip monitor exited (%d)", WEXITSTATUS(st));
        else snprintf(m, sizeof m, "ip monitor exited (%s)", sigabbrev_np(WTERMSIG(st)) ? sigabbrev_np(WTERMSIG(st)) : "signal");
        rec_simple(wall_ms(), "monitor-error", "err", m);
      }
      mon = -1;
    }
    now = mono_ms();
    for (int i = 0; i < MAX_SLOTS; i++) {
      if (slots[i].fd != -1 && now >= slots[i].deadline) slot_finish(&slots[i], 0, "ETIMEDOUT", &in_flight, &truncated, max_bytes);
    }
    if (now >= next_tick) {
      /* Missed ticks (a stalled machine) are skipped, not burst. */
      while (next_tick <= now) next_tick += period_ms;
      if (in_flight < max_in_flight && !truncated) {
        int i = 0;
        while (i < MAX_SLOTS && slots[i].fd >= 0) i++;
        struct slot *s = &slots[i];
        s->seq = ++seq;
        s->t = wall_ms();
        s->deadline = now + timeout_ms;
        s->connected = 0;
        s->got = 0;
        in_flight++;
        if (udp) {
          char req[512];
          int rl = snprintf(req, sizeof req, "io %s %ld\n", host, s->seq);
          s->fd = UDP_BUSY;
          if (sendto(ufd, req, (size_t)rl, MSG_NOSIGNAL, (struct sockaddr *)&dst, sizeof dst) < 0) slot_finish(s, 0, err_name(errno), &in_flight, &truncated, max_bytes);
          continue;
        }
        s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s->fd < 0) {
          s->fd = open("/dev/null", O_RDONLY | O_CLOEXEC); /* so finish can close something */
          slot_finish(s, 0, err_name(errno), &in_flight, &truncated, max_bytes);
        } else {
          int one = 1;
          setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          if (connect(s->fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) slot_finish(s, 0, err_name(errno), &in_flight, &truncated, max_bytes);
        }
      }
    }
    if (now >= end) reason = "lifetime";
    if (exit_with_parent && now >= next_parent_check) {
      next_parent_check = now + 1000;
      if (getppid() != parent) reason = "parent-exited";
    }
  }
  if (mon > 0) {
    kill(mon, SIGTERM);
  }
  rec_simple(wall_ms(), "stop", "reason", reason);
  close(out_fd);
  return 0;
}
