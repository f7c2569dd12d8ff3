/*
 * A benchmark-only TCP relay (test/bench/port-floor.ts, tunnel.ts): listens on
 * 127.0.0.1:PORT and connects each client to 127.0.0.1:TARGET.
 *
 *   copy: carries the bytes itself (epoll, read, write), as the capsule anchor's
 *         relay does for a handed-over port connection (relay.c);
 *   join: lets the kernel carry them: both sockets go into a BPF sockhash whose
 *         stream verdict program redirects every segment one socket receives to
 *         the other one's send side (bpf_sk_redirect_hash); the relay only
 *         forwards a close. Needs CAP_BPF and CAP_NET_ADMIN (root).
 *
 * Usage: join-relay copy|join PORT TARGET
 * Not part of nestbox: it measures whether joining sockets in the kernel would
 * beat copying them (the port proxy's throughput target, issue 10).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

static long bpf(int cmd, union bpf_attr *a) { return syscall(__NR_bpf, cmd, a, sizeof *a); }

#define INSN(c, d, s, o, i) ((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define MOV_REG(d, s) INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define MOV_IMM(d, v) INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, v)
#define ADD_IMM(d, v) INSN(BPF_ALU64 | BPF_ADD | BPF_K, d, 0, 0, v)
#define CALL(f) INSN(BPF_JMP | BPF_CALL, 0, 0, 0, f)
#define STORE64(d, s, o) INSN(BPF_STX | BPF_MEM | BPF_DW, d, s, o, 0)
#define LOAD64(d, s, o) INSN(BPF_LDX | BPF_MEM | BPF_DW, d, s, o, 0)
#define LOAD_MAP(d, fd) INSN(BPF_LD | BPF_DW | BPF_IMM, d, BPF_PSEUDO_MAP_FD, 0, fd), INSN(0, 0, 0, 0, 0)
#define JUMP_IF_ZERO(d, o) INSN(BPF_JMP | BPF_JEQ | BPF_K, d, 0, o, 0)
#define EXIT() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

static int socks; /* sockhash: socket cookie -> socket */
static int peers; /* hash: socket cookie -> the cookie of the socket its bytes go to */

static int new_map(uint32_t type, uint32_t value_size) {
  union bpf_attr a = { .map_type = type, .key_size = 8, .value_size = value_size, .max_entries = 4096 };
  int fd = (int)bpf(BPF_MAP_CREATE, &a);
  if (fd < 0) perror("join-relay: map"), exit(1);
  return fd;
}

static void load_verdict(void) {
  socks = new_map(BPF_MAP_TYPE_SOCKHASH, 4);
  peers = new_map(BPF_MAP_TYPE_HASH, 8);
  struct bpf_insn prog[] = {
    MOV_REG(6, 1),                      /* r6 = skb */
    CALL(BPF_FUNC_get_socket_cookie),   /* the receiving socket */
    STORE64(10, 0, -8),
    LOAD_MAP(1, peers), MOV_REG(2, 10), ADD_IMM(2, -8),
    CALL(BPF_FUNC_map_lookup_elem),
    JUMP_IF_ZERO(0, 10),                /* no peer: to the socket's own queue */
    LOAD64(1, 0, 0), STORE64(10, 1, -16),
    MOV_REG(1, 6), LOAD_MAP(2, socks), MOV_REG(3, 10), ADD_IMM(3, -16), MOV_IMM(4, 0),
    CALL(BPF_FUNC_sk_redirect_hash),    /* out of the peer's send side */
    EXIT(),
    MOV_IMM(0, SK_PASS), EXIT(),
  };
  static char log[1 << 16];
  union bpf_attr a = {
    .prog_type = BPF_PROG_TYPE_SK_SKB, .insns = (uintptr_t)prog, .insn_cnt = sizeof prog / sizeof *prog,
    .license = (uintptr_t)"GPL", .log_buf = (uintptr_t)log, .log_size = sizeof log, .log_level = 1,
  };
  int fd = (int)bpf(BPF_PROG_LOAD, &a);
  if (fd < 0) fprintf(stderr, "join-relay: program refused: %s\n%s\n", strerror(errno), log), exit(1);
  union bpf_attr at = { .target_fd = (uint32_t)socks, .attach_bpf_fd = (uint32_t)fd, .attach_type = BPF_SK_SKB_VERDICT };
  if (bpf(BPF_PROG_ATTACH, &at) < 0) perror("join-relay: attach"), exit(1);
}

static uint64_t cookie_of(int fd) {
  uint64_t c = 0;
  socklen_t l = sizeof c;
  getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c, &l);
  return c;
}

static int map_put(int map, const void *key, const void *value) {
  union bpf_attr a = { .map_fd = (uint32_t)map, .key = (uintptr_t)key, .value = (uintptr_t)value, .flags = BPF_ANY };
  return (int)bpf(BPF_MAP_UPDATE_ELEM, &a);
}

static void map_drop(int map, const void *key) {
  union bpf_attr a = { .map_fd = (uint32_t)map, .key = (uintptr_t)key };
  bpf(BPF_MAP_DELETE_ELEM, &a);
}

/* One direction of a connection: bytes read from fd go to the other end's fd. */
struct end {
  int fd;
  uint64_t cookie;
  struct end *other;
  int done; /* read its end of stream */
};

/* Both sockets into the sockhash, each naming the other as its peer; false when the kernel refuses. */
static int join(struct end *a, struct end *b) {
  a->cookie = cookie_of(a->fd);
  b->cookie = cookie_of(b->fd);
  uint32_t fa = (uint32_t)a->fd, fb = (uint32_t)b->fd;
  if (map_put(peers, &a->cookie, &b->cookie) || map_put(peers, &b->cookie, &a->cookie) || map_put(socks, &b->cookie, &fb) || map_put(socks, &a->cookie, &fa)) {
    map_drop(peers, &a->cookie);
    map_drop(peers, &b->cookie);
    return 0;
  }
  return 1;
}

static int listen_on(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 128)) perror("join-relay: listen"), exit(1);
  return fd;
}

static int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) return fd;
  close(fd);
  return -1;
}

static void watch(int ep, struct end *e) {
  int one = 1;
  setsockopt(e->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(e->fd, F_SETFL, O_NONBLOCK);
  struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = e };
  epoll_ctl(ep, EPOLL_CTL_ADD, e->fd, &ev);
}

/* Copies what is readable on e to its other end (with join, only what arrived before the join); forwards the close. */
static void pump(int ep, struct end *e, int joined) {
  static char buf[65536];
  for (;;) {
    ssize_t r = read(e->fd, buf, sizeof buf);
    if (r > 0) {
      for (ssize_t off = 0; off < r;) {
        ssize_t w = write(e->other->fd, buf + off, (size_t)(r - off));
        if (w > 0) off += w;
        else if (w < 0 && errno != EAGAIN && errno != EINTR) break;
      }
      continue;
    }
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
    e->done = 1;
    shutdown(e->other->fd, SHUT_WR);
    epoll_ctl(ep, EPOLL_CTL_DEL, e->fd, NULL);
    if (!e->other->done) return;
    if (joined) {
      map_drop(peers, &e->cookie);
      map_drop(peers, &e->other->cookie);
    }
    close(e->fd); /* a closed socket leaves the sockhash by itself */
    close(e->other->fd);
    free(e < e->other ? e : e->other);
    return;
  }
}

int main(int argc, char **argv) {
  if (argc != 4 || (strcmp(argv[1], "copy") && strcmp(argv[1], "join"))) return fprintf(stderr, "usage: join-relay copy|join PORT TARGET\n"), 2;
  int joining = !strcmp(argv[1], "join"), target = atoi(argv[3]);
  if (joining) load_verdict();
  int listener = listen_on(atoi(argv[2])), ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
  epoll_ctl(ep, EPOLL_CTL_ADD, listener, &lev);
  printf("listening %s\n", argv[2]);
  fflush(stdout);
  for (;;) {
    struct epoll_event evs[64];
    int n = epoll_wait(ep, evs, 64, -1);
    for (int i = 0; i < n; i++) {
      struct end *e = evs[i].data.ptr;
      if (e) {
        pump(ep, e, joining);
        continue;
      }
      int client = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
      if (client < 0) continue;
      int app = connect_to(target);
      if (app < 0) {
        close(client);
        continue;
      }
      struct end *pair = calloc(2, sizeof *pair);
      pair[0] = (struct end){ .fd = client, .other = &pair[1] };
      pair[1] = (struct end){ .fd = app, .other = &pair[0] };
      /* a join the kernel refuses (a client already gone) leaves that connection to copying */
      if (joining) join(&pair[0], &pair[1]);
      /* bytes the client sent before the join wait in its queue: epoll reports them */
      watch(ep, &pair[0]);
      watch(ep, &pair[1]);
    }
  }
}
