/*
 * The anchor's network relays (part of nestbox-enter, #included by it), run
 * inside the capsule's network namespace with the capsule root's privileges:
 *
 *   --api DIR:   TCP 127.0.0.7:80 (the host name `nestbox` in the capsule's
 *                /etc/hosts) → DIR/api.sock, where nestbox serves its API for
 *                this capsule. The capsule reaches nestbox and nothing else.
 *   --ports DIR: DIR/ports.sock, where nestbox asks for a port ("PORT\n", or
 *                "PORT ack\n" to hear "OK\n" once connected) and the relay
 *                connects to 127.0.0.1:PORT (else [::1]:PORT) and carries the
 *                bytes, or answers "ERR <reason>\n" and closes.
 *                "PORT fd\n": after "OK\n" comes "LEN\n" carrying a client's
 *                connection (SCM_RIGHTS), then LEN bytes for the app; the relay
 *                then carries client <-> app itself and nestbox is out of the
 *                way (a host-routed port connection, port-splice.ts).
 *
 * DIR is a host directory bound into the capsule. Each connection is served by a
 * forked child, so one cannot stall or crash another; children are reaped by the
 * kernel (SIGCHLD ignored).
 */
#define RELAY_BUF 65536
#define NESTBOX_ADDR "127.0.0.7"

static int unix_listener(const char *dir, const char *name) {
  struct sockaddr_un a = { .sun_family = AF_UNIX };
  if (snprintf(a.sun_path, sizeof a.sun_path, "%s/%s", dir, name) >= (int)sizeof a.sun_path) usage("relay path too long");
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  unlink(a.sun_path);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 128) < 0) die(a.sun_path);
  return fd;
}

static int unix_connect(const char *dir, const char *name) {
  struct sockaddr_un a = { .sun_family = AF_UNIX };
  snprintf(a.sun_path, sizeof a.sun_path, "%s/%s", dir, name);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) return -1;
  return fd;
}

static int tcp_connect_local(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  if (fd >= 0 && connect(fd, (struct sockaddr *)&a4, sizeof a4) == 0) return fd;
  int e = errno;
  if (fd >= 0) close(fd);
  fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = IN6ADDR_LOOPBACK_INIT };
  if (fd >= 0 && connect(fd, (struct sockaddr *)&a6, sizeof a6) == 0) return fd;
  if (fd >= 0) close(fd);
  errno = e;
  return -1;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/*
 * Carries bytes both ways until both directions ended; a half-close is passed
 * on. With pre >= 0, what goes from a to b starts with pre_len bytes read from
 * pre (what nestbox already read of a), while b -> a flows from the start.
 */
static void relay_from(int a, int b, int pre, long pre_len) {
  static char buf[2][RELAY_BUF];
  size_t len[2] = { 0, 0 }, off[2] = { 0, 0 };
  int fds[2] = { a, b }, eof[2] = { 0, 0 }, shut[2] = { 0, 0 };
  fcntl(a, F_SETFL, O_NONBLOCK);
  fcntl(b, F_SETFL, O_NONBLOCK);
  while (!(shut[0] && shut[1])) {
    /* direction d: from src (fds[d], or pre first) to fds[1 - d] */
    int from_pre = pre >= 0 && pre_len > 0;
    struct pollfd p[3] = { { .fd = a }, { .fd = b }, { .fd = from_pre ? pre : -1 } };
    for (int d = 0; d < 2; d++) {
      if (!eof[d] && len[d] == 0) p[d == 0 && from_pre ? 2 : d].events |= POLLIN;
      if (len[d] > off[d]) p[1 - d].events |= POLLOUT;
    }
    if (poll(p, 3, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int d = 0; d < 2; d++) {
      int s = d == 0 && from_pre ? 2 : d;
      if (p[s].revents & (POLLIN | POLLHUP | POLLERR) && !eof[d] && len[d] == 0) {
        size_t want = s == 2 && pre_len < RELAY_BUF ? (size_t)pre_len : RELAY_BUF;
        ssize_t n = read(p[s].fd, buf[d], want);
        if (n > 0) len[d] = (size_t)n, off[d] = 0;
        if (s == 2) {
          if (n == 0 || (n < 0 && errno != EINTR)) return; /* nestbox hung up before the bytes it had read */
          if (n > 0 && (pre_len -= n) == 0) close(pre);
        } else if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) eof[d] = 1;
      }
      /* written at once (the fds are non-blocking): a poll for POLLOUT only when the peer is full */
      if (len[d] > off[d]) {
        ssize_t w = write(fds[1 - d], buf[d] + off[d], len[d] - off[d]);
        if (w > 0) off[d] += (size_t)w;
        else if (w < 0 && errno != EAGAIN && errno != EINTR) return;
        if (off[d] == len[d]) len[d] = off[d] = 0;
      }
      if (eof[d] && len[d] == 0 && !shut[d]) {
        shutdown(fds[1 - d], SHUT_WR);
        shut[d] = 1;
      }
    }
  }
}

static void relay(int a, int b) { relay_from(a, b, -1, 0); }

/* Reads "LEN\n" from conn; with want_fd, also the descriptor sent with it (else -1 is returned). */
static int read_len_line(int conn, long *len, int want_fd) {
  char line[24];
  size_t n = 0;
  int fd = want_fd ? -1 : 0;
  while (n < sizeof line - 1) {
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } ctl;
    struct iovec iov = { .iov_base = line + n, .iov_len = 1 };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf };
    ssize_t r = recvmsg(conn, &m, MSG_CMSG_CLOEXEC);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        int got;
        memcpy(&got, CMSG_DATA(c), sizeof got);
        if (want_fd && fd < 0) fd = got;
        else close(got);
      }
    if (line[n] == '\n') {
      line[n] = '\0';
      char *end;
      *len = strtol(line, &end, 10);
      if (n > 0 && !*end && *len >= 0) return fd;
      break;
    }
    n++;
  }
  if (want_fd && fd >= 0) close(fd);
  return -1;
}

/*
 * "PORT fd": the client's connection arrives ("0\n" carrying it, from the fd
 * broker), then "LEN\n" and the LEN bytes nestbox read of it (from nestbox, once
 * it has stopped reading); the app gets those first, then the rest of the
 * client, while the app's answer flows back from the start.
 */
static void join_client(int conn, int up) {
  long len;
  int client = read_len_line(conn, &len, 1);
  if (client < 0 || read_len_line(conn, &len, 0) < 0) return;
  relay_from(client, up, conn, len);
}

static void serve_api(int conn, const char *dir) {
  int up = unix_connect(dir, "api.sock");
  if (up < 0) return;
  relay(conn, up);
}

static void serve_port(int conn) {
  char line[16];
  size_t n = 0;
  while (n < sizeof line - 1) {
    ssize_t r = read(conn, line + n, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return;
    if (line[n] == '\n') break;
    n++;
  }
  line[n] = '\0';
  char *end;
  long port = strtol(line, &end, 10);
  int ack = !strcmp(end, " ack"), pass = !strcmp(end, " fd");
  if (ack || pass) *end = '\0';
  if (n == 0 || *end || port < 1 || port > 65535) {
    dprintf(conn, "ERR bad port\n");
    return;
  }
  int up = tcp_connect_local((int)port);
  if (up < 0) {
    dprintf(conn, "ERR %s\n", strerror(errno));
    return;
  }
  if (pass) {
    if (write_all(conn, "OK\n", 3) == 0) join_client(conn, up);
  } else if (!ack || write_all(conn, "OK\n", 3) == 0) relay(conn, up);
}

static void serve_relays(const char *ports_dir, const char *api_dir) {
  struct pollfd l[2];
  int n = 0;
  const char *dirs[2];
  if (api_dir) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(80) };
    inet_pton(AF_INET, NESTBOX_ADDR, &a.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 128) < 0) die(NESTBOX_ADDR ":80");
    dirs[n] = api_dir;
    l[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
  }
  if (ports_dir) {
    dirs[n] = NULL;
    l[n++] = (struct pollfd){ .fd = unix_listener(ports_dir, "ports.sock"), .events = POLLIN };
  }
  signal(SIGCHLD, SIG_IGN);
  for (;;) {
    if (poll(l, (nfds_t)n, -1) < 0) continue;
    for (int i = 0; i < n; i++) {
      if (!(l[i].revents & POLLIN)) continue;
      int conn = accept4(l[i].fd, NULL, NULL, SOCK_CLOEXEC);
      if (conn < 0) continue;
      pid_t pid = fork();
      if (pid == 0) {
        signal(SIGCHLD, SIG_DFL);
        signal(SIGPIPE, SIG_IGN); /* a peer gone mid-write ends the relay, not the process */
        for (int j = 0; j < n; j++) close(l[j].fd);
        if (dirs[i]) serve_api(conn, dirs[i]);
        else serve_port(conn);
        _exit(0);
      }
      close(conn);
    }
  }
}

/*
 * --fd-broker: runs on the host as nestbox's child and passes client
 * connections on for it (Node cannot send a descriptor over a unix socket).
 * On stdin, one request a line:
 *   "SEQ probe FD\n"         can FD be taken from nestbox?
 *   "SEQ pass CLIENT CONN\n" send CLIENT over CONN (a "PORT fd" relay
 *                            connection) with "0\n";
 * each answered "SEQ ok\n" or "SEQ err REASON\n" on stdout. The descriptors are
 * nestbox's own numbers, taken with pidfd_getfd(2) (which needs the right to
 * ptrace nestbox); nestbox keeps them open until it has the answer.
 */
static const char *broker_pass(int nestbox, int client_no, int conn_no) {
  int client = (int)syscall(SYS_pidfd_getfd, nestbox, client_no, 0);
  if (client < 0) return strerror(errno);
  int conn = (int)syscall(SYS_pidfd_getfd, nestbox, conn_no, 0);
  if (conn < 0) {
    close(client);
    return strerror(errno);
  }
  union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } ctl;
  memset(&ctl, 0, sizeof ctl);
  struct iovec iov = { .iov_base = "0\n", .iov_len = 2 };
  struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf };
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &client, sizeof client);
  ssize_t w;
  do w = sendmsg(conn, &m, MSG_NOSIGNAL); while (w < 0 && errno == EINTR);
  close(client);
  close(conn);
  return w == 2 ? NULL : "sending the connection";
}

static void fd_broker(void) {
  signal(SIGPIPE, SIG_IGN);
  int nestbox = (int)syscall(SYS_pidfd_open, getppid(), 0);
  char line[128];
  for (;;) {
    size_t n = 0;
    while (n < sizeof line - 1) {
      ssize_t r = read(0, line + n, 1);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) _exit(0);
      if (line[n] == '\n') break;
      n++;
    }
    line[n] = '\0';
    unsigned long seq;
    int a, b;
    const char *err;
    if (sscanf(line, "%lu probe %d", &seq, &a) == 2) {
      int fd = nestbox < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, nestbox, a, 0);
      err = fd < 0 ? strerror(errno) : NULL;
      if (fd >= 0) close(fd);
    } else if (sscanf(line, "%lu pass %d %d", &seq, &a, &b) == 3) {
      err = nestbox < 0 ? "no pidfd for nestbox" : broker_pass(nestbox, a, b);
    } else {
      usage("fd broker: bad request");
    }
    if (err) dprintf(1, "%lu err %s\n", seq, err);
    else dprintf(1, "%lu ok\n", seq);
  }
}
