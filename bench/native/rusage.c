/*
 * zrb-rusage OUTFILE CMD [ARGS...]: runs CMD (no shell), waits for it with wait4()
 * and appends one line to OUTFILE:
 *   wall_us user_us sys_us maxrss_kb exit
 * maxrss is ru_maxrss of the child: its peak resident set (what VmHWM shows), taken
 * by the kernel at exit, so short-lived clients are not missed as a sampler would.
 * Static, so it runs inside a lab host's busybox chroot. Benchmarks only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: zrb-rusage OUTFILE CMD [ARGS...]\n");
    return 2;
  }
  long long t0 = now_us();
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    return 2;
  }
  if (pid == 0) {
    execvp(argv[2], argv + 2);
    perror("exec");
    _exit(127);
  }
  int status = 0;
  struct rusage ru;
  if (wait4(pid, &status, 0, &ru) < 0) {
    perror("wait4");
    return 2;
  }
  long long wall = now_us() - t0;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  FILE *f = fopen(argv[1], "a");
  if (f == NULL) {
    perror("open OUTFILE");
    return 2;
  }
  fprintf(f, "%lld %lld %lld %ld %d\n", wall, (long long)ru.ru_utime.tv_sec * 1000000LL + ru.ru_utime.tv_usec,
          (long long)ru.ru_stime.tv_sec * 1000000LL + ru.ru_stime.tv_usec, ru.ru_maxrss, code);
  fclose(f);
  return code;
}
