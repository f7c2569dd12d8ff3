/*
 * nestbox-receive: takes the body of a large upload off nestbox's hands. Node
 * reads a socket 64 KiB at a time into fresh buffers and copies each into the
 * page cache; for a 256 MiB PUT that costs more CPU than the MD5 of it. Here the
 * bytes go socket → pipe → file with splice(2), never through user space, while
 * nestbox hashes the file behind the writer (receiver.ts).
 *
 * A long-lived child of nestbox; one request per line on stdin, answers on stdout:
 *   SEQ probe FD                      → "SEQ ok" when nestbox's descriptors can be taken
 *   SEQ take SOCK FILE LENGTH [IDLE]  → LENGTH bytes from nestbox's socket SOCK into its
 *                                       file FILE at offset 0: "SEQ at N" as they land,
 *                                       then "SEQ done N", or "SEQ err MESSAGE"
 *   SEQ abort TAKE                    → stops the take numbered TAKE ("SEQ ok")
 * Descriptors are nestbox's numbers, taken with pidfd_getfd(2) (root, or
 * CAP_SYS_PTRACE over nestbox). Each take runs in a forked worker, so uploads
 * proceed side by side; a worker reads at most LENGTH bytes (what follows on the
 * connection is not the body's) and gives up after IDLE seconds without data.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define STEP (1L << 20)      /* progress (and writeback) every 4 MiB */
#define PIPE_BYTES (1 << 20) /* splice up to 1 MiB at a time */
#define MAX_TAKES 256

static struct { unsigned long seq; pid_t pid; } takes[MAX_TAKES];

static void reap(int sig) {
  (void)sig;
  int saved = errno;
  pid_t pid;
  while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
    for (int i = 0; i < MAX_TAKES; i++)
      if (takes[i].pid == pid) takes[i].pid = 0;
  errno = saved;
}

/* One line to nestbox; lines shorter than PIPE_BUF are written whole, so workers never interleave. */
#define say(...) dprintf(1, __VA_ARGS__)

static const char *take_fds(int nestbox, int a, int b, int *fa, int *fb) {
  *fa = (int)syscall(SYS_pidfd_getfd, nestbox, a, 0);
  if (*fa < 0) return strerror(errno);
  *fb = (int)syscall(SYS_pidfd_getfd, nestbox, b, 0);
  if (*fb < 0) return strerror(errno);
  return NULL;
}

static void worker(unsigned long seq, int nestbox, int sockno, int fileno, long long length, int idle_sec) {
  int sock = -1, file = -1, p[2];
  const char *err = take_fds(nestbox, sockno, fileno, &sock, &file);
  if (err) { say("%lu err taking descriptors: %s\n", seq, err); _exit(1); }
  if (pipe2(p, O_CLOEXEC) < 0) { say("%lu err pipe: %s\n", seq, strerror(errno)); _exit(1); }
  long cap = fcntl(p[1], F_SETPIPE_SZ, PIPE_BYTES);
  if (cap <= 0) cap = 65536;
  long long got = 0, reported = 0, synced = 0;
  loff_t off = 0;
  while (got < length) {
    long want = length - got < cap ? (long)(length - got) : cap;
    ssize_t n = splice(sock, NULL, p[1], NULL, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      struct pollfd pf = { .fd = sock, .events = POLLIN };
      int r = poll(&pf, 1, idle_sec * 1000);
      if (r == 0) { say("%lu err no data for %d s after %lld bytes\n", seq, idle_sec, got); _exit(1); }
      continue;
    }
    if (n < 0) { say("%lu err reading the connection: %s\n", seq, strerror(errno)); _exit(1); }
    if (n == 0) { say("%lu err the client closed the connection after %lld of %lld bytes\n", seq, got, length); _exit(1); }
    for (ssize_t left = n; left > 0;) {
      ssize_t w = splice(p[0], NULL, file, &off, left, SPLICE_F_MOVE);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) { say("%lu err writing the file: %s\n", seq, w < 0 ? strerror(errno) : "no progress"); _exit(1); }
      left -= w;
    }
    got += n;
    if (got - reported >= STEP || got == length) {
      // start writing back what landed, so the final fsync has little left to do
      sync_file_range(file, synced, got - synced, SYNC_FILE_RANGE_WRITE);
      synced = got;
      say("%lu at %lld\n", seq, got);
      reported = got;
    }
  }
  say("%lu done %lld\n", seq, got);
  _exit(0);
}

int main(int argc, char **argv) {
  (void)argv;
  if (argc != 1) { fprintf(stderr, "usage: nestbox-receive (requests on stdin; started by nestbox)\n"); return 2; }
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = { .sa_handler = reap, .sa_flags = SA_RESTART | SA_NOCLDSTOP };
  sigaction(SIGCHLD, &sa, NULL);
  int nestbox = (int)syscall(SYS_pidfd_open, getppid(), 0);
  char line[256];
  for (;;) {
    size_t n = 0;
    while (n < sizeof line - 1) {
      ssize_t r = read(0, line + n, 1);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        // nestbox is gone: so are its uploads
        for (int i = 0; i < MAX_TAKES; i++) if (takes[i].pid) kill(takes[i].pid, SIGKILL);
        _exit(0);
      }
      if (line[n] == '\n') break;
      n++;
    }
    line[n] = '\0';
    unsigned long seq = 0, target;
    int a, b, idle = 300;
    long long length;
    if (sscanf(line, "%lu probe %d", &seq, &a) == 2) {
      int fd = nestbox < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, nestbox, a, 0);
      if (fd < 0) say("%lu err %s\n", seq, nestbox < 0 ? "no pidfd for nestbox" : strerror(errno));
      else { close(fd); say("%lu ok\n", seq); }
    } else if (sscanf(line, "%lu take %d %d %lld %d", &seq, &a, &b, &length, &idle) >= 4 && length >= 0 && idle > 0) {
      int slot = -1;
      for (int i = 0; i < MAX_TAKES && slot < 0; i++) if (!takes[i].pid) slot = i;
      if (slot < 0 || nestbox < 0) { say("%lu err %s\n", seq, slot < 0 ? "too many uploads at once" : "no pidfd for nestbox"); continue; }
      sigset_t block, old;
      sigemptyset(&block);
      sigaddset(&block, SIGCHLD);
      sigprocmask(SIG_BLOCK, &block, &old); // the slot is filled before the worker can be reaped
      pid_t pid = fork();
      if (pid == 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        signal(SIGCHLD, SIG_DFL);
        close(0);
        // bulk work: the hashing that follows it (and nestbox's requests) go first
        setpriority(PRIO_PROCESS, 0, 10);
        worker(seq, nestbox, a, b, length, idle);
      }
      if (pid < 0) say("%lu err fork: %s\n", seq, strerror(errno));
      else { takes[slot].seq = seq; takes[slot].pid = pid; }
      sigprocmask(SIG_SETMASK, &old, NULL);
    } else if (sscanf(line, "%lu abort %lu", &seq, &target) == 2) {
      sigset_t block, old;
      sigemptyset(&block);
      sigaddset(&block, SIGCHLD);
      sigprocmask(SIG_BLOCK, &block, &old);
      for (int i = 0; i < MAX_TAKES; i++) if (takes[i].pid && takes[i].seq == target) kill(takes[i].pid, SIGKILL);
      sigprocmask(SIG_SETMASK, &old, NULL);
      say("%lu ok\n", seq);
    } else {
      say("%lu err bad request\n", seq);
    }
  }
}
