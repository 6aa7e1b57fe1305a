/* ESXi has no bash and busybox has no bash applet, yet sshd runs the login
 * shell named in passwd (often /bin/bash on the machine running the lab).
 * This stands in for /bin/bash inside a host's root and runs busybox ash,
 * so remote commands behave as on ESXi. */
#include <unistd.h>
#include <stdio.h>

int main(int argc, char **argv) {
  (void)argc;
  argv[0] = "sh";
  execv("/bin/busybox", argv);
  perror("bash-shim: exec /bin/busybox");
  return 127;
}
