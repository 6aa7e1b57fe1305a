/* A minimal sudo for the simulated SCVM, installed setuid root inside its
 * root. SMTX OS lets the operator user `smartx` (group wheel) become root with
 * sudo; the real sudo needs PAM and its plugins, which a busybox root lacks.
 * Policy (by /etc/group inside the root): members of "wheel" may run any
 * command as root without a password (`%wheel ALL=(ALL) NOPASSWD: ALL`);
 * members of "wheel-pw" are sudoers who need a password, which this lab never
 * accepts (tests of a missing NOPASSWD rule); everyone else is refused. The
 * messages are sudo's own. Options: -n -E -H -S -k, -u root, --. */
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Parsed by hand: a static binary cannot use glibc's NSS modules, and the
 * root has only flat files anyway. Returns the name for uid in *name. */
static int user_name(uid_t uid, char *name, size_t cap, gid_t *gid) {
  FILE *f = fopen("/etc/passwd", "r");
  if (f == NULL) return 0;
  char line[512];
  int found = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    char *fields[4] = {0};
    char *p = line;
    for (int k = 0; k < 4 && p != NULL; k++) { fields[k] = p; p = strchr(p, ':'); if (p) *p++ = '\0'; }
    if (fields[3] == NULL) continue;
    if ((uid_t)strtoul(fields[2], NULL, 10) == uid) {
      snprintf(name, cap, "%s", fields[0]);
      *gid = (gid_t)strtoul(fields[3], NULL, 10);
      found = 1;
      break;
    }
  }
  fclose(f);
  return found;
}

static int in_group(const char *group, const char *name, gid_t pgid) {
  FILE *f = fopen("/etc/group", "r");
  if (f == NULL) return 0;
  char line[1024];
  int ok = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    line[strcspn(line, "\n")] = '\0';
    char *fields[4] = {0};
    char *p = line;
    for (int k = 0; k < 4 && p != NULL; k++) { fields[k] = p; p = strchr(p, ':'); if (p) *p++ = '\0'; }
    if (fields[0] == NULL || strcmp(fields[0], group) != 0 || fields[2] == NULL) continue;
    if ((gid_t)strtoul(fields[2], NULL, 10) == pgid) { ok = 1; break; }
    for (char *m = fields[3] ? strtok(fields[3], ",") : NULL; m != NULL; m = strtok(NULL, ",")) {
      if (strcmp(m, name) == 0) { ok = 1; break; }
    }
  }
  fclose(f);
  return ok;
}

int main(int argc, char **argv) {
  int i = 1;
  int non_interactive = 0;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) { i++; break; }
    if (a[0] != '-') break;
    if (strcmp(a, "-u") == 0) {
      if (i + 1 >= argc) { fprintf(stderr, "sudo: option requires an argument -- 'u'\n"); return 1; }
      if (strcmp(argv[i + 1], "root") != 0 && strcmp(argv[i + 1], "#0") != 0) {
        fprintf(stderr, "sudo: this host only allows -u root\n");
        return 1;
      }
      i++;
      continue;
    }
    if (strcmp(a, "-n") == 0 || strcmp(a, "-nE") == 0 || strcmp(a, "-En") == 0) non_interactive = 1;
    if (strcmp(a, "-n") == 0 || strcmp(a, "-E") == 0 || strcmp(a, "-H") == 0 ||
        strcmp(a, "-S") == 0 || strcmp(a, "-k") == 0 || strcmp(a, "-nE") == 0 || strcmp(a, "-En") == 0) {
      continue;
    }
    fprintf(stderr, "sudo: invalid option -- '%s'\nusage: sudo [-nEHSk] [-u root] [--] command [arg ...]\n", a + 1);
    return 1;
  }
  if (i >= argc) {
    fprintf(stderr, "usage: sudo [-nEHSk] [-u root] [--] command [arg ...]\n");
    return 1;
  }
  uid_t ruid = getuid();
  char name[128] = "unknown";
  gid_t pgid = (gid_t)-1;
  int known = user_name(ruid, name, sizeof name, &pgid);
  if (ruid != 0 && known && in_group("wheel-pw", name, pgid) && !in_group("wheel", name, pgid)) {
    if (!non_interactive) {
      fprintf(stderr, "sudo: a terminal is required to read the password; either use the -S option to read from standard input or configure an askpass helper\n");
    }
    fprintf(stderr, "sudo: a password is required\n");
    return 1;
  }
  if (ruid != 0 && (!known || !in_group("wheel", name, pgid))) {
    fprintf(stderr, "%s is not in the sudoers file.  This incident will be reported.\n", name);
    return 1;
  }
  if (setgroups(0, NULL) != 0 || setgid(0) != 0 || setuid(0) != 0) {
    perror("sudo: cannot become root (is /usr/bin/sudo setuid root?)");
    return 1;
  }
  setenv("HOME", "/root", 1);
  setenv("USER", "root", 1);
  setenv("LOGNAME", "root", 1);
  setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
  execvp(argv[i], &argv[i]);
  fprintf(stderr, "sudo: %s: command not found\n", argv[i]);
  return 1;
}
