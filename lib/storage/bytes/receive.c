/*
 * nestbox_receive.node: takes the body of a large upload off nestbox's event loop
 * and computes its digests. Node reads a socket 64 KiB at a time into fresh
 * buffers, copies them to the page cache and hashes them on the one thread; for a
 * 256 MiB PUT that cost twice the CPU of the MD5 alone. Here, on threads of their
 * own, one receives each MiB once, a second hashes it where it lies (MD5, and
 * SHA-256 when the request signed its payload) while a third writes it to the
 * file, starting its writeback at once: on two cores the MD5 runs on one of them
 * from the first MiB to the last.
 *
 * The digests are Node's own OpenSSL (its MD5_* and SHA256_* symbols, which the
 * node executable exports to addons): ~4% faster here than Debian's libcrypto.
 *
 *   take(socketFd, fileFd, length, sha256, idleSec) → [id, Promise<[md5hex, sha256hex | null]>]
 *   cancel(id)
 * take() duplicates both descriptors, so nestbox may close its own meanwhile. It
 * reads at most `length` bytes (what follows on the connection is not the body's),
 * writes them from offset 0, fdatasyncs, and rejects with an Error whose `code`
 * says why: closed (the client closed early), idle (`idleSec` without data), io,
 * cancelled (cancel()); take() itself throws code busy past MAX_TAKES. (O_DIRECT
 * writes measured no faster here and left a GET right after the upload reading
 * from the disk.)
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#define OPENSSL_SUPPRESS_DEPRECATED /* MD5_* and SHA256_*: the one-call-per-block API is all this needs */
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <openssl/md5.h>
#include <openssl/sha.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BLOCK (1 << 20) /* received, hashed and written a MiB at a time */
#define BLOCKS 8        /* the ring: up to 8 MiB between the receiver and the slower of the other two */
#define MAX_TAKES 64 /* at 8 MiB of ring each: what uploads at once may hold, at most */

typedef struct {
  int sock, file, cancel[2]; /* our own duplicates; cancel: a pipe that wakes the receiver */
  long long length;
  int idle_sec, sha, alone;
  pthread_mutex_t mu;
  pthread_cond_t moved;
  unsigned char *block[BLOCKS];
  size_t len[BLOCKS];
  long filled, hashed, written, blocks; /* blocks done by each; `blocks` in all, once known */
  char failed[256];
  const char *code; /* the failure's kind, the rejection's `code`: closed, idle, cancelled, io */
  MD5_CTX md5;
  SHA256_CTX sha256;
  char md5hex[2 * MD5_DIGEST_LENGTH + 1], sha256hex[2 * SHA256_DIGEST_LENGTH + 1];
  unsigned id;
  napi_deferred deferred;
  napi_threadsafe_function done;
} Take;

static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static Take *table[MAX_TAKES];
static unsigned next_id;
static atomic_int running;

/* The take's first failure stops all three threads. */
static void fail(Take *t, const char *code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(Take *t, const char *code, const char *fmt, ...) {
  pthread_mutex_lock(&t->mu);
  if (!t->failed[0]) {
    t->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->failed, sizeof t->failed, fmt, ap);
    va_end(ap);
  }
  pthread_cond_broadcast(&t->moved);
  pthread_mutex_unlock(&t->mu);
}

/* Waits until block i is filled (or all are done); returns 0 when there is nothing more to do. */
static int wait_filled(Take *t, long i) {
  pthread_mutex_lock(&t->mu);
  while (!t->failed[0] && t->filled <= i && !(t->blocks >= 0 && i >= t->blocks)) pthread_cond_wait(&t->moved, &t->mu);
  int go = !t->failed[0] && t->filled > i;
  pthread_mutex_unlock(&t->mu);
  return go;
}

static void advance(Take *t, long *counter, long to) {
  pthread_mutex_lock(&t->mu);
  *counter = to;
  pthread_cond_broadcast(&t->moved);
  pthread_mutex_unlock(&t->mu);
}

static void *hasher(void *arg) {
  Take *t = arg;
  /* The take is done when the digest is, and the digest is the slowest of the three: the hasher of a take
     that runs alone goes ahead of everything else on the machine (a thread's own nice value, by its tid;
     needs root, else it stays as it is). Only alone, so that uploads side by side never hold more than
     one core at this priority. */
  if (t->alone) setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), -20);
  for (long i = 0; wait_filled(t, i); i++) {
    MD5_Update(&t->md5, t->block[i % BLOCKS], t->len[i % BLOCKS]);
    if (t->sha) SHA256_Update(&t->sha256, t->block[i % BLOCKS], t->len[i % BLOCKS]);
    advance(t, &t->hashed, i + 1);
  }
  return NULL;
}

static void *writer(void *arg) {
  Take *t = arg;
  for (long i = 0; wait_filled(t, i); i++) {
    size_t n = t->len[i % BLOCKS];
    for (size_t done = 0; done < n;) {
      ssize_t w = pwrite(t->file, t->block[i % BLOCKS] + done, n - done, (off_t)i * BLOCK + (off_t)done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        fail(t, "io", "writing the file: %s", w < 0 ? strerror(errno) : "no progress");
        return NULL;
      }
      done += (size_t)w;
    }
    sync_file_range(t->file, (off_t)i * BLOCK, (off_t)n, SYNC_FILE_RANGE_WRITE); /* writeback starts now, not at the fsync */
    advance(t, &t->written, i + 1);
  }
  /* all written: make it durable while the hasher finishes, so that nestbox's fsync after the digests
     has only the file's metadata left to flush */
  if (!t->failed[0] && fdatasync(t->file) < 0) fail(t, "io", "syncing the file: %s", strerror(errno));
  return NULL;
}

static void hex(char *out, const unsigned char *d, int n) {
  for (int i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

/* Receives into the ring (this thread) while the hasher and the writer follow. */
static void *run(void *arg) {
  Take *t = arg;
  pthread_t th, tw;
  int threads = !pthread_create(&th, NULL, hasher, t) + !pthread_create(&tw, NULL, writer, t) * 2;
  if (threads != 3) fail(t, "io", "starting threads failed");
  long long got = 0;
  for (long i = 0; got < t->length && threads == 3; i++) {
    pthread_mutex_lock(&t->mu); /* block i's slot is free once the hasher and the writer are past its last use */
    while (!t->failed[0] && (i - t->hashed >= BLOCKS || i - t->written >= BLOCKS)) pthread_cond_wait(&t->moved, &t->mu);
    int stop = t->failed[0] != 0;
    pthread_mutex_unlock(&t->mu);
    if (stop) break;
    unsigned char *b = t->block[i % BLOCKS];
    size_t want = t->length - got < BLOCK ? (size_t)(t->length - got) : BLOCK, n = 0;
    while (n < want) {
      ssize_t k = recv(t->sock, b + n, want - n, MSG_DONTWAIT);
      if (k < 0 && errno == EINTR) continue;
      if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        struct pollfd pf[2] = { { .fd = t->sock, .events = POLLIN }, { .fd = t->cancel[0], .events = POLLIN } };
        int r = poll(pf, 2, t->idle_sec * 1000);
        if (r == 0) {
          fail(t, "idle", "no data for %d s after %lld bytes", t->idle_sec, got + (long long)n);
          break;
        }
        if (pf[1].revents) {
          fail(t, "cancelled", "cancelled");
          break;
        }
        continue;
      }
      if (k <= 0) {
        if (k < 0) fail(t, "io", "reading the connection: %s (after %lld bytes)", strerror(errno), got + (long long)n);
        else fail(t, "closed", "the client closed the connection after %lld of %lld bytes", got + (long long)n, t->length);
        break;
      }
      n += (size_t)k;
    }
    if (n < want) break;
    t->len[i % BLOCKS] = n;
    got += (long long)n;
    advance(t, &t->filled, i + 1);
  }
  pthread_mutex_lock(&t->mu);
  t->blocks = t->filled;
  pthread_cond_broadcast(&t->moved);
  pthread_mutex_unlock(&t->mu);
  if (threads & 1) pthread_join(th, NULL);
  if (threads & 2) pthread_join(tw, NULL);
  if (!t->failed[0]) {
    unsigned char d[SHA256_DIGEST_LENGTH];
    MD5_Final(d, &t->md5);
    hex(t->md5hex, d, MD5_DIGEST_LENGTH);
    if (t->sha) SHA256_Final(d, &t->sha256), hex(t->sha256hex, d, SHA256_DIGEST_LENGTH);
  }
  atomic_fetch_sub(&running, 1);
  napi_call_threadsafe_function(t->done, t, napi_tsfn_blocking);
  return NULL;
}

static void free_take(Take *t) {
  pthread_mutex_lock(&table_mu);
  if (table[t->id % MAX_TAKES] == t) table[t->id % MAX_TAKES] = NULL;
  pthread_mutex_unlock(&table_mu);
  close(t->sock);
  close(t->file);
  close(t->cancel[0]);
  close(t->cancel[1]);
  for (int i = 0; i < BLOCKS; i++) free(t->block[i]);
  pthread_mutex_destroy(&t->mu);
  pthread_cond_destroy(&t->moved);
  free(t);
}

/* On the JS thread: settles the take's promise. */
static void settle(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)js_cb;
  (void)context;
  Take *t = data;
  if (env) {
    napi_value result;
    if (t->failed[0]) {
      napi_value msg, code;
      napi_create_string_utf8(env, t->failed, NAPI_AUTO_LENGTH, &msg);
      napi_create_string_utf8(env, t->code, NAPI_AUTO_LENGTH, &code);
      napi_create_error(env, code, msg, &result);
      napi_reject_deferred(env, t->deferred, result);
    } else {
      napi_value md5, sha;
      napi_create_array_with_length(env, 2, &result);
      napi_create_string_utf8(env, t->md5hex, NAPI_AUTO_LENGTH, &md5);
      if (t->sha) napi_create_string_utf8(env, t->sha256hex, NAPI_AUTO_LENGTH, &sha);
      else napi_get_null(env, &sha);
      napi_set_element(env, result, 0, md5);
      napi_set_element(env, result, 1, sha);
      napi_resolve_deferred(env, t->deferred, result);
    }
  }
  napi_release_threadsafe_function(t->done, napi_tsfn_release);
  free_take(t);
}

static napi_value throw_error(napi_env env, const char *code, const char *msg) {
  napi_throw_error(env, code, msg);
  return NULL;
}

/* take(socketFd, fileFd, length, sha256, idleSec) → [id, promise] */
static napi_value take(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 5) return throw_error(env, NULL, "take(socketFd, fileFd, length, sha256, idleSec)");
  int32_t sock, file, idle;
  int64_t length;
  bool sha;
  if (napi_get_value_int32(env, argv[0], &sock) != napi_ok || napi_get_value_int32(env, argv[1], &file) != napi_ok || napi_get_value_int64(env, argv[2], &length) != napi_ok ||
      napi_get_value_bool(env, argv[3], &sha) != napi_ok || napi_get_value_int32(env, argv[4], &idle) != napi_ok || length < 0 || idle <= 0)
    return throw_error(env, NULL, "take(socketFd, fileFd, length, sha256, idleSec): bad arguments");
  Take *t = calloc(1, sizeof *t);
  if (!t) return throw_error(env, NULL, "out of memory");
  t->sock = t->file = t->cancel[0] = t->cancel[1] = -1;
  pthread_mutex_init(&t->mu, NULL);
  pthread_cond_init(&t->moved, NULL);
  t->blocks = -1;
  t->length = length;
  t->idle_sec = idle;
  t->sha = sha;
  int ok = (t->sock = fcntl(sock, F_DUPFD_CLOEXEC, 3)) >= 0 && (t->file = fcntl(file, F_DUPFD_CLOEXEC, 3)) >= 0 && !pipe2(t->cancel, O_CLOEXEC);
  for (int i = 0; ok && i < BLOCKS; i++) ok = (t->block[i] = malloc(BLOCK)) != NULL;
  pthread_mutex_lock(&table_mu);
  int slot = -1;
  for (unsigned k = 0; ok && k < MAX_TAKES && slot < 0; k++)
    if (!table[(next_id + k) % MAX_TAKES]) slot = (int)((next_id + k) % MAX_TAKES);
  if (slot >= 0) {
    t->id = (unsigned)slot + MAX_TAKES * (next_id / MAX_TAKES + 1);
    next_id = t->id + 1;
    table[slot] = t;
  }
  pthread_mutex_unlock(&table_mu);
  if (!ok || slot < 0) {
    free_take(t);
    return ok ? throw_error(env, "busy", "too many uploads at once") : throw_error(env, "io", "taking the descriptors failed");
  }
  t->alone = atomic_fetch_add(&running, 1) == 0;
  MD5_Init(&t->md5);
  if (sha) SHA256_Init(&t->sha256);
  napi_value promise, name, id, out;
  napi_create_promise(env, &t->deferred, &promise);
  napi_create_string_utf8(env, "nestbox-receive", NAPI_AUTO_LENGTH, &name);
  napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, NULL, settle, &t->done);
  pthread_t thread;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (pthread_create(&thread, &attr, run, t)) {
    atomic_fetch_sub(&running, 1);
    fail(t, "io", "starting a thread failed");
    napi_call_threadsafe_function(t->done, t, napi_tsfn_blocking);
  }
  pthread_attr_destroy(&attr);
  napi_create_uint32(env, t->id, &id);
  napi_create_array_with_length(env, 2, &out);
  napi_set_element(env, out, 0, id);
  napi_set_element(env, out, 1, promise);
  return out;
}

/* cancel(id): the take stops at once and rejects ("cancelled"); unknown or finished ids are ignored. */
static napi_value cancel(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  uint32_t id;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 1 || napi_get_value_uint32(env, argv[0], &id) != napi_ok) return throw_error(env, NULL, "cancel(id)");
  pthread_mutex_lock(&table_mu);
  Take *t = table[id % MAX_TAKES];
  if (t && t->id == id) {
    fail(t, "cancelled", "cancelled");
    if (write(t->cancel[1], "x", 1) < 0) { /* the pipe is ours and empty: cannot fail but for EINTR */ }
  }
  pthread_mutex_unlock(&table_mu);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "take", NAPI_AUTO_LENGTH, take, NULL, &f);
  napi_set_named_property(env, exports, "take", f);
  napi_create_function(env, "cancel", NAPI_AUTO_LENGTH, cancel, NULL, &f);
  napi_set_named_property(env, exports, "cancel", f);
  return exports;
}
