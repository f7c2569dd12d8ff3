/*
 * nestbox-enter: runs one program inside a running capsule.
 *
 * It is started by nestbox (host root) from the host's filesystem and is linked
 * statically, so nothing it loads can come from the capsule: it joins the
 * capsule's cgroups and namespaces, forks into its pid namespace, and the child
 * takes the capsule's final privileges (bounding set, capabilities, uid/gid,
 * no_new_privs, seccomp filter) *before* the one exec that resolves a path inside
 * the capsule. The parent drops every capability, closes its descriptors and only
 * waits, mirroring the program's exit status (as nsenter(1) does).
 *
 * usage: nestbox-enter --hold --keep-caps N,N,... [--ports DIR] [--api DIR]
 *        nestbox-enter --fd-broker   (relay.c)
 *        nestbox-enter (--pid PID | --pid-fd N) [--cgroup FILE]... [--cgroupns]
 *          [--keep-caps N,N,...] [--seccomp FILE] (RUN | --wait-fd N)
 *   RUN:   [--uid N] [--session] [--cwd DIR] [--env K=V]... -- PROGRAM [ARG]...
 *
 * --hold is a capsule's anchor, its first process (started by bwrap with the
 * capsule's capabilities plus CAP_SETPCAP): it narrows its bounding set to
 * --keep-caps, gives up CAP_SETPCAP and serves the capsule's network relays
 * (relay.c), or sleeps until killed when it has none.
 *
 * With --wait-fd (a warm entry, made ahead of time) the child enters, becomes the
 * capsule's root — exactly what its own root is — and reads RUN, NUL-separated,
 * from fd N until EOF before going on.
 *
 * With --pid-fd (an entry made while the capsule boots) it joins the cgroups
 * first, then reads "PID CGROUPNS\n" from fd N (CGROUPNS 1 to join the cgroup
 * namespace too) once the capsule's pid 1 exists, and enters it; EOF instead:
 * the boot failed, it exits.
 *
 * The environment of nestbox-enter itself is ignored (nestbox starts it with an
 * empty one); the program gets exactly the --env entries, and PROGRAM is looked
 * up in their PATH. Exit status: the program's; 125 when the working directory
 * is missing; 126/127 when the program cannot be run; 255 when entering failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CGROUPS 8
#define MAX_FILTER 4096 /* BPF_MAXINSNS */
#define MAX_RUN (4 << 20) /* a warm entry's RUN, at most */

extern char **environ;

static void die(const char *what) {
  dprintf(2, "nestbox-enter: %s: %s\n", what, strerror(errno));
  _exit(255);
}

static void usage(const char *why) {
  dprintf(2, "nestbox-enter: %s\n", why);
  _exit(255);
}

static long number(const char *s, long max) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *s == '\0' || *end != '\0' || v < 0 || v > max) usage("bad number");
  return v;
}

/* Bit mask of capability numbers given as "N,N,...". */
static unsigned long long cap_mask(const char *list) {
  unsigned long long m = 0;
  char *copy = strdup(list), *save = NULL;
  for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) m |= 1ULL << number(t, 63);
  free(copy);
  return m;
}

/* Reads a classic BPF program (struct sock_filter[]) from a host file. */
static struct sock_fprog read_filter(const char *path) {
  static struct sock_filter insns[MAX_FILTER];
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) die(path);
  size_t got = 0;
  for (;;) {
    ssize_t n = read(fd, (char *)insns + got, sizeof insns - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die(path);
    if (n == 0) break;
    got += (size_t)n;
    if (got == sizeof insns) usage("seccomp filter too long");
  }
  close(fd);
  if (got == 0 || got % sizeof insns[0]) usage("seccomp filter has a partial instruction");
  return (struct sock_fprog){ .len = (unsigned short)(got / sizeof insns[0]), .filter = insns };
}

static void write_pid(const char *file) {
  int fd = open(file, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) die(file);
  char buf[24];
  int len = snprintf(buf, sizeof buf, "%d", getpid());
  if (write(fd, buf, (size_t)len) != len) {
    dprintf(2, "nestbox: cannot join the capsule cgroup\n");
    _exit(255);
  }
  close(fd);
}

/* The bounding set becomes `keep`; with `effective`, so do the permitted and effective sets. */
static void limit_caps(unsigned long long keep, int effective) {
  for (int cap = 0; cap <= 63; cap++) {
    if (keep & (1ULL << cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
      if (errno == EINVAL) break; /* past the kernel's last capability */
      die("dropping the bounding set");
    }
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) die("clearing ambient capabilities");
  struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
  struct __user_cap_data_struct d[2];
  memset(d, 0, sizeof d);
  if (effective) {
    d[0].effective = d[0].permitted = (unsigned)(keep & 0xffffffffULL);
    d[1].effective = d[1].permitted = (unsigned)(keep >> 32);
  }
  if (syscall(SYS_capset, &h, d) < 0) die("capset");
}

#include "relay.c"

/* What to run, once inside. */
struct run {
  long uid;
  int session;
  const char *cwd;
  char **env;
  char **prog;
};

/* Parses RUN from `args` (NULL-terminated); the strings stay where they are. */
static struct run parse_run(int n, char **args) {
  struct run r = { .uid = 0, .session = 0, .cwd = "/", .env = calloc((size_t)n + 1, sizeof(char *)), .prog = NULL };
  if (!r.env) die("calloc");
  int nenv = 0;
  for (int i = 0; i < n; i++) {
    const char *a = args[i];
    if (!strcmp(a, "--")) {
      r.prog = args + i + 1;
      break;
    }
    if (!strcmp(a, "--session")) { r.session = 1; continue; }
    if (i + 1 >= n) usage("option without a value");
    const char *v = args[++i];
    if (!strcmp(a, "--uid")) r.uid = number(v, 65535);
    else if (!strcmp(a, "--cwd")) r.cwd = v;
    else if (!strcmp(a, "--env")) r.env[nenv++] = args[i];
    else usage("unknown option");
  }
  if (!r.prog || !r.prog[0]) usage("needs a program");
  return r;
}

/* Reads RUN from fd until EOF: NUL-separated words. */
static struct run read_run(int fd) {
  char *buf = malloc(MAX_RUN + 1);
  if (!buf) die("malloc");
  size_t got = 0;
  for (;;) {
    ssize_t n = read(fd, buf + got, MAX_RUN - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("reading what to run");
    if (n == 0) break;
    got += (size_t)n;
    if (got == MAX_RUN) usage("what to run is too long");
  }
  close(fd);
  if (got == 0) _exit(0); /* retired unused */
  buf[got] = '\0';
  int n = 1;
  for (size_t i = 0; i < got; i++) n += buf[i] == '\0';
  char **words = calloc((size_t)n + 1, sizeof(char *));
  if (!words) die("calloc");
  int w = 0;
  for (char *p = buf; p < buf + got; p += strlen(p) + 1) words[w++] = p;
  return parse_run(w, words);
}

int main(int argc, char **argv) {
  if (argc == 2 && !strcmp(argv[1], "--fd-broker")) fd_broker();
  if (argc >= 4 && !strcmp(argv[1], "--hold") && !strcmp(argv[2], "--keep-caps")) {
    limit_caps(cap_mask(argv[3]), 1);
    const char *ports = NULL, *api = NULL;
    for (int i = 4; i + 1 < argc; i += 2) {
      if (!strcmp(argv[i], "--ports")) ports = argv[i + 1];
      else if (!strcmp(argv[i], "--api")) api = argv[i + 1];
      else usage("unknown option");
    }
    if (ports || api) serve_relays(ports, api);
    for (;;) pause();
  }
  long pid1 = -1, wait_fd = -1, pid_fd = -1;
  int cgroupns = 0;
  const char *cgroups[MAX_CGROUPS];
  int ncgroups = 0;
  const char *seccomp = NULL;
  unsigned long long keep = 0;

  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--cgroupns")) { cgroupns = 1; continue; }
    int of_target = !strcmp(a, "--pid") || !strcmp(a, "--pid-fd") || !strcmp(a, "--keep-caps") || !strcmp(a, "--seccomp") || !strcmp(a, "--wait-fd") || !strcmp(a, "--cgroup");
    if (!of_target) break; /* RUN starts here */
    if (i + 1 >= argc) usage("option without a value");
    const char *v = argv[++i];
    if (!strcmp(a, "--pid")) pid1 = number(v, 1L << 22);
    else if (!strcmp(a, "--pid-fd")) pid_fd = number(v, 1024);
    else if (!strcmp(a, "--keep-caps")) keep = cap_mask(v);
    else if (!strcmp(a, "--seccomp")) seccomp = v;
    else if (!strcmp(a, "--wait-fd")) wait_fd = number(v, 1024);
    else if (ncgroups == MAX_CGROUPS) usage("too many cgroups");
    else cgroups[ncgroups++] = v;
  }
  if ((pid1 <= 0) == (pid_fd < 0)) usage("needs --pid (or --pid-fd), not both");
  struct run run = { 0 };
  if (wait_fd < 0) run = parse_run(argc - i, argv + i);
  else if (i != argc) usage("--wait-fd takes what to run from its fd only");

  /* Everything read from the host happens before any namespace is joined. */
  struct sock_fprog filter = { 0 };
  if (seccomp) filter = read_filter(seccomp);
  if (pid_fd >= 0) {
    /* the cgroups now, alongside the boot's own joins (a cgroup v1 join waits out an RCU grace period once per burst) */
    for (int c = 0; c < ncgroups; c++) write_pid(cgroups[c]);
    char line[32];
    size_t n = 0;
    while (n < sizeof line - 1) {
      ssize_t r = read((int)pid_fd, line + n, 1);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0 || line[n] == '\n') break;
      n++;
    }
    line[n] = '\0';
    char *space = strchr(line, ' ');
    if (!n || !space) _exit(0); /* no capsule to enter: its boot failed */
    *space = '\0';
    pid1 = number(line, 1L << 22);
    cgroupns = !strcmp(space + 1, "1");
    close((int)pid_fd);
  }
  int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid1, 0);
  if (pidfd < 0) die("the capsule's pid 1");
  if (pid_fd < 0)
    for (int c = 0; c < ncgroups; c++) write_pid(cgroups[c]);

  int flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET | (cgroupns ? CLONE_NEWCGROUP : 0);
  if (setns(pidfd, flags) < 0) die("joining the capsule's namespaces");
  close(pidfd);

  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    /* First the capsule's root, exactly: its bounding set and capabilities, no_new_privs, its filter. */
    if (setgroups(0, NULL) < 0) die("setgroups");
    if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) die("becoming the capsule's root");
    limit_caps(keep, 1);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die("no_new_privs");
    if (seccomp && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &filter, 0, 0) < 0) die("installing the seccomp filter");
    if (wait_fd >= 0) {
      memset(argv[1], 0, (size_t)(argv[argc - 1] + strlen(argv[argc - 1]) - argv[1]));
      run = read_run((int)wait_fd);
    }
    /* Then what this run asks: a session, another uid (the kernel then clears every capability). */
    if (run.session && setsid() < 0) die("setsid");
    if (run.uid != 0 && (setresgid((gid_t)run.uid, (gid_t)run.uid, (gid_t)run.uid) < 0 || setresuid((uid_t)run.uid, (uid_t)run.uid, (uid_t)run.uid) < 0)) die("changing uid");
    if (chdir(run.cwd) < 0) {
      dprintf(2, "nestbox-enter: cannot change directory to '%s': %s\n", run.cwd, strerror(errno));
      _exit(125);
    }
    environ = run.env;
    execvp(run.prog[0], run.prog);
    int e = errno;
    dprintf(2, "nestbox-enter: %s: %s\n", run.prog[0], strerror(e));
    _exit(e == ENOENT ? 127 : 126);
  }

  /* The parent keeps nothing: no capabilities, no descriptors, no secrets in its argv.
     A terminal's hangup (its session leader is this process) must not end the wait. */
  signal(SIGHUP, SIG_IGN);
  limit_caps(0, 1);
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  syscall(SYS_close_range, 0U, ~0U, 0);
  if (argc > 1) memset(argv[1], 0, (size_t)(argv[argc - 1] + strlen(argv[argc - 1]) - argv[1]));
  struct rlimit no_core = { 0, 0 };
  setrlimit(RLIMIT_CORE, &no_core);

  int status;
  while (waitpid(child, &status, 0) < 0)
    if (errno != EINTR) _exit(255);
  if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
  int sig = WTERMSIG(status);
  signal(sig, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  sigprocmask(SIG_UNBLOCK, &set, NULL);
  kill(getpid(), sig);
  _exit(128 + sig);
}
