/*
 * nestbox-receive: takes the body of a large upload off nestbox's hands and
 * computes its digests. Node reads a socket 64 KiB at a time into fresh buffers,
 * copies them to the page cache and hashes them on the one thread; for a 256 MiB
 * PUT that cost twice the CPU of the MD5 alone. Here one thread receives each MiB
 * once, a second hashes it where it lies (OpenSSL's MD5, and SHA-256 when the
 * request signed its payload) while a third writes it to the file, starting its
 * writeback at once: on two cores the MD5 runs on one of them from the first MiB
 * to the last. (O_DIRECT writes, without the copy into the page cache, measured
 * no faster here and left a GET right after the upload reading from the disk.)
 *
 * A long-lived child of nestbox (receiver.ts); one request per line on stdin,
 * one answer line per request on stdout:
 *   SEQ probe FD                         → "SEQ ok" when nestbox's descriptors can be taken
 *   SEQ take SOCK FILE LENGTH IDLE SHA   → LENGTH bytes from nestbox's socket SOCK into its
 *                                          (empty) file FILE: "SEQ done MD5HEX SHA256HEX|-",
 *                                          or "SEQ err MESSAGE"; SHA is 1 to compute SHA-256
 *   SEQ abort TAKE                       → stops the take numbered TAKE ("SEQ ok")
 * Descriptors are nestbox's numbers, taken with pidfd_getfd(2) (root, or
 * CAP_SYS_PTRACE over nestbox). Each take runs in a forked worker, so uploads
 * proceed side by side; a worker reads at most LENGTH bytes (what follows on the
 * connection is not the body's) and gives up after IDLE seconds without data.
 * nestbox fsyncs the file before it counts.
 */
#define _GNU_SOURCE
#define OPENSSL_SUPPRESS_DEPRECATED /* MD5_* and SHA256_*: the one-call-per-block API is all this needs */
#include <errno.h>
#include <fcntl.h>
#include <openssl/md5.h>
#include <openssl/sha.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define BLOCK (1 << 20) /* received, hashed and written a MiB at a time */
#define BLOCKS 8        /* the ring: up to 8 MiB between the receiver and the slower of the other two */
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

/* ---- one take: the ring shared by the receiver (this thread), the hasher and the writer ---- */

static struct {
  pthread_mutex_t mu;
  pthread_cond_t moved;
  unsigned char *block[BLOCKS];
  size_t len[BLOCKS];
  long filled, hashed, written, blocks; /* blocks done by each; `blocks` in all, once known */
  const char *failed;
  int file;
  int sha;
  MD5_CTX md5;
  SHA256_CTX sha256;
} r = { .mu = PTHREAD_MUTEX_INITIALIZER, .moved = PTHREAD_COND_INITIALIZER, .blocks = -1 };

static char failure[256];

/* The take's first failure stops all three threads. */
#define fail(...) do { char m_[sizeof failure]; snprintf(m_, sizeof m_, __VA_ARGS__); failed_with(m_); } while (0)
static void failed_with(const char *message) {
  pthread_mutex_lock(&r.mu);
  if (!r.failed) {
    snprintf(failure, sizeof failure, "%s", message);
    r.failed = failure;
  }
  pthread_cond_broadcast(&r.moved);
  pthread_mutex_unlock(&r.mu);
}

/* Waits until block i is filled (or all are done); returns 0 when there is nothing more to do. */
static int wait_filled(long i) {
  pthread_mutex_lock(&r.mu);
  while (!r.failed && r.filled <= i && !(r.blocks >= 0 && i >= r.blocks)) pthread_cond_wait(&r.moved, &r.mu);
  int go = !r.failed && r.filled > i;
  pthread_mutex_unlock(&r.mu);
  return go;
}

static void advance(long *counter, long to) {
  pthread_mutex_lock(&r.mu);
  *counter = to;
  pthread_cond_broadcast(&r.moved);
  pthread_mutex_unlock(&r.mu);
}

static void *hasher(void *arg) {
  /* The take is done when the digest is, and the digest is the slowest of the three: the hasher of a
     take that runs alone goes ahead of everything else on the machine (a thread's own nice value, by its
     tid; needs root, else it stays as it is). Only alone, so that uploads side by side never hold more
     than one core at this priority. */
  if (*(int *)arg) setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), -20);
  for (long i = 0; wait_filled(i); i++) {
    MD5_Update(&r.md5, r.block[i % BLOCKS], r.len[i % BLOCKS]);
    if (r.sha) SHA256_Update(&r.sha256, r.block[i % BLOCKS], r.len[i % BLOCKS]);
    advance(&r.hashed, i + 1);
  }
  return NULL;
}

static void *writer(void *arg) {
  (void)arg;
  for (long i = 0; wait_filled(i); i++) {
    size_t n = r.len[i % BLOCKS];
    for (size_t done = 0; done < n;) {
      ssize_t w = pwrite(r.file, r.block[i % BLOCKS] + done, n - done, (off_t)i * BLOCK + (off_t)done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        fail("writing the file: %s", w < 0 ? strerror(errno) : "no progress");
        return NULL;
      }
      done += (size_t)w;
    }
    sync_file_range(r.file, (off_t)i * BLOCK, (off_t)n, SYNC_FILE_RANGE_WRITE); /* writeback starts now, not at the fsync */
    advance(&r.written, i + 1);
  }
  /* all written: make it durable while the hasher finishes, so that nestbox's fsync after the answer has
     only the file's metadata left to flush */
  if (!r.failed && fdatasync(r.file) < 0) fail("syncing the file: %s", strerror(errno));
  return NULL;
}

static void hex(char *out, const unsigned char *d, int n) {
  for (int i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

static void worker(unsigned long seq, int nestbox, int sockno, int fileno, long long length, int idle_sec, int sha, int alone) {
  int sock = (int)syscall(SYS_pidfd_getfd, nestbox, sockno, 0);
  int file = (int)syscall(SYS_pidfd_getfd, nestbox, fileno, 0);
  if (sock < 0 || file < 0) { say("%lu err taking descriptors: %s\n", seq, strerror(errno)); _exit(1); }
  r.file = file;
  r.sha = sha;
  MD5_Init(&r.md5);
  if (sha) SHA256_Init(&r.sha256);
  for (int i = 0; i < BLOCKS; i++)
    if (!(r.block[i] = malloc(BLOCK))) { say("%lu err out of memory\n", seq); _exit(1); }
  pthread_t th, tw;
  if (pthread_create(&th, NULL, hasher, &alone) || pthread_create(&tw, NULL, writer, NULL)) { say("%lu err threads\n", seq); _exit(1); }

  long long got = 0;
  for (long i = 0; got < length; i++) {
    pthread_mutex_lock(&r.mu); /* block i's slot is free once the hasher and the writer are past its last use */
    while (!r.failed && (i - r.hashed >= BLOCKS || i - r.written >= BLOCKS)) pthread_cond_wait(&r.moved, &r.mu);
    int stop = r.failed != NULL;
    pthread_mutex_unlock(&r.mu);
    if (stop) break;
    unsigned char *b = r.block[i % BLOCKS];
    size_t want = length - got < BLOCK ? (size_t)(length - got) : BLOCK, n = 0;
    while (n < want) {
      ssize_t k = recv(sock, b + n, want - n, 0);
      if (k < 0 && errno == EINTR) continue;
      if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        struct pollfd pf = { .fd = sock, .events = POLLIN };
        if (poll(&pf, 1, idle_sec * 1000) == 0) {
          fail("no data for %d s after %lld bytes", idle_sec, got + (long long)n);
          break;
        }
        continue;
      }
      if (k <= 0) {
        if (k < 0) fail("reading the connection: %s (after %lld bytes)", strerror(errno), got + (long long)n);
        else fail("the client closed the connection after %lld of %lld bytes", got + (long long)n, length);
        break;
      }
      n += (size_t)k;
    }
    if (n < want) break;
    r.len[i % BLOCKS] = n;
    got += (long long)n;
    advance(&r.filled, i + 1);
  }
  pthread_mutex_lock(&r.mu);
  r.blocks = r.filled;
  pthread_cond_broadcast(&r.moved);
  pthread_mutex_unlock(&r.mu);
  pthread_join(th, NULL);
  pthread_join(tw, NULL);
  if (r.failed) { say("%lu err %s\n", seq, r.failed); _exit(1); }
  unsigned char d5[MD5_DIGEST_LENGTH], d256[SHA256_DIGEST_LENGTH];
  char h5[2 * MD5_DIGEST_LENGTH + 1], h256[2 * SHA256_DIGEST_LENGTH + 1] = "-";
  MD5_Final(d5, &r.md5);
  hex(h5, d5, MD5_DIGEST_LENGTH);
  if (sha) SHA256_Final(d256, &r.sha256), hex(h256, d256, SHA256_DIGEST_LENGTH);
  say("%lu done %s %s\n", seq, h5, h256);
  _exit(0);
}

int main(int argc, char **argv) {
  (void)argv;
  if (argc != 1) { fprintf(stderr, "usage: nestbox-receive (requests on stdin; started by nestbox)\n"); return 2; }
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = { .sa_handler = reap, .sa_flags = SA_RESTART | SA_NOCLDSTOP };
  sigaction(SIGCHLD, &sa, NULL);
  int nestbox = (int)syscall(SYS_pidfd_open, getppid(), 0);
  sigset_t chld, old;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  char line[256];
  for (;;) {
    size_t n = 0;
    while (n < sizeof line - 1) {
      ssize_t got = read(0, line + n, 1);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        // nestbox is gone: so are its uploads
        for (int i = 0; i < MAX_TAKES; i++) if (takes[i].pid) kill(takes[i].pid, SIGKILL);
        _exit(0);
      }
      if (line[n] == '\n') break;
      n++;
    }
    line[n] = '\0';
    unsigned long seq = 0, target;
    int a, b, idle, sha;
    long long length;
    if (sscanf(line, "%lu probe %d", &seq, &a) == 2) {
      int fd = nestbox < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, nestbox, a, 0);
      if (fd < 0) say("%lu err %s\n", seq, nestbox < 0 ? "no pidfd for nestbox" : strerror(errno));
      else { close(fd); say("%lu ok\n", seq); }
    } else if (sscanf(line, "%lu take %d %d %lld %d %d", &seq, &a, &b, &length, &idle, &sha) == 6 && length >= 0 && idle > 0) {
      int slot = -1, busy = 0;
      for (int i = 0; i < MAX_TAKES; i++) {
        if (takes[i].pid) busy++;
        else if (slot < 0) slot = i;
      }
      if (slot < 0 || nestbox < 0) { say("%lu err %s\n", seq, slot < 0 ? "too many uploads at once" : "no pidfd for nestbox"); continue; }
      sigprocmask(SIG_BLOCK, &chld, &old); // the slot is filled before the worker can be reaped
      pid_t pid = fork();
      if (pid == 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        signal(SIGCHLD, SIG_DFL);
        close(0);
        worker(seq, nestbox, a, b, length, idle, sha, busy == 0);
      }
      if (pid < 0) say("%lu err fork: %s\n", seq, strerror(errno));
      else takes[slot].seq = seq, takes[slot].pid = pid;
      sigprocmask(SIG_SETMASK, &old, NULL);
    } else if (sscanf(line, "%lu abort %lu", &seq, &target) == 2) {
      sigprocmask(SIG_BLOCK, &chld, &old);
      for (int i = 0; i < MAX_TAKES; i++) if (takes[i].pid && takes[i].seq == target) kill(takes[i].pid, SIGKILL);
      sigprocmask(SIG_SETMASK, &old, NULL);
      say("%lu ok\n", seq);
    } else {
      say("%lu err bad request\n", seq);
    }
  }
}
