/* ESXi's own busybox path, /usr/lib/vmware/busybox/bin/busybox, in a lab
 * ESXi root. Real ESXi's busybox is a reduced build: `busybox --list` prints
 * only its applets and `busybox tr` fails. The lab's binary is Debian's
 * busybox-static (it has crond, which ESXi's reload idiom starts from this
 * path), so this wrapper answers --list / --list-full from the host's
 * profile (/usr/lib/vmware/lab/applets, one name a line) and refuses an
 * applet outside it, then execs the static build with argv unchanged (ps -c
 * still shows "/usr/lib/vmware/busybox/bin/busybox crond"). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PROFILE "/usr/lib/vmware/lab/applets"
#define REAL "/usr/lib/vmware/lab/static/busybox"

static const char *base(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

/* 1 if name is a line of the profile; a missing profile allows everything. */
static int in_profile(const char *name) {
  FILE *f = fopen(PROFILE, "r");
  char line[256];
  int found = 0;
  if (f == NULL) return 1;
  while (!found && fgets(line, sizeof line, f) != NULL) {
    line[strcspn(line, "\r\n")] = '\0';
    found = strcmp(line, name) == 0;
  }
  fclose(f);
  return found;
}

static int list(int full) {
  FILE *f = fopen(PROFILE, "r");
  char line[256];
  if (f == NULL) return 1;
  while (fgets(line, sizeof line, f) != NULL) {
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] != '\0') printf(full ? "bin/%s\n" : "%s\n", line);
  }
  fclose(f);
  return 0;
}

int main(int argc, char **argv) {
  const char *applet = base(argv[0]);
  if (strcmp(applet, "busybox") == 0 && argc > 1) {
    if (strcmp(argv[1], "--list") == 0) return list(0);
    if (strcmp(argv[1], "--list-full") == 0) return list(1);
    if (argv[1][0] != '-') applet = base(argv[1]);
  }
  if (strcmp(applet, "busybox") != 0 && !in_profile(applet)) {
    fprintf(stderr, "%s: applet not found\n", applet);
    return 127;
  }
  execv(REAL, argv);
  perror("esxi-busybox: exec " REAL);
  return 127;
}
