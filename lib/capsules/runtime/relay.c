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

/* Carries bytes both ways until both directions ended; a half-close is passed on. */
static void relay(int a, int b) {
  static char buf[2][RELAY_BUF];
  size_t len[2] = { 0, 0 }, off[2] = { 0, 0 };
  int fds[2] = { a, b }, eof[2] = { 0, 0 }, shut[2] = { 0, 0 };
  fcntl(a, F_SETFL, O_NONBLOCK);
  fcntl(b, F_SETFL, O_NONBLOCK);
  while (!(shut[0] && shut[1])) {
    /* direction d: from fds[d] to fds[1 - d] */
    struct pollfd p[2] = { { .fd = a }, { .fd = b } };
    for (int d = 0; d < 2; d++) {
      if (!eof[d] && len[d] == 0) p[d].events |= POLLIN;
      if (len[d] > off[d]) p[1 - d].events |= POLLOUT;
    }
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int d = 0; d < 2; d++) {
      if (p[d].revents & (POLLIN | POLLHUP | POLLERR) && !eof[d] && len[d] == 0) {
        ssize_t n = read(fds[d], buf[d], RELAY_BUF);
        if (n > 0) len[d] = (size_t)n, off[d] = 0;
        else if (n == 0 || (errno != EAGAIN && errno != EINTR)) eof[d] = 1;
      }
      if (len[d] > off[d] && p[1 - d].revents & (POLLOUT | POLLERR | POLLHUP)) {
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
  int ack = !strcmp(end, " ack");
  if (ack) *end = '\0';
  if (n == 0 || *end || port < 1 || port > 65535) {
    dprintf(conn, "ERR bad port\n");
    return;
  }
  int up = tcp_connect_local((int)port);
  if (up < 0) {
    dprintf(conn, "ERR %s\n", strerror(errno));
    return;
  }
  if (!ack || write_all(conn, "OK\n", 3) == 0) relay(conn, up);
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
