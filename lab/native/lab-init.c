/* PID 1 of one simulated host's pid namespace. It only reaps orphans (the
 * agent's backgrounded loops end up here, as under a real init) and keeps
 * the namespace alive; killing it from outside is how the lab powers the
 * host off, because the kernel then kills every process in the namespace. */
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
  (void)argc;
  /* Visible name in `ps -c`, like ESXi's own init world. */
  prctl(PR_SET_NAME, "init", 0, 0, 0);
  if (argv[0] != NULL) {
    size_t n = strlen(argv[0]);
    memset(argv[0], 0, n);
    strncpy(argv[0], "init", n);
  }
  for (;;) {
    if (waitpid(-1, NULL, 0) < 0) {
      sleep(1);
    }
  }
}
