// Open-loop HTTP/1.1 POST load generator for the whole-path benchmarks (bench/shared/native-http-load.ts builds and
// drives it). A Node generator costs ~200 µs of CPU per request on this 2-core machine, CPU the system under test then
// lacks; this one costs a few µs. Request i of a run has the intended send time first + i / rate and goes out as soon as
// it is due on an idle keep-alive connection (a new one is opened when none is idle, up to max_conns; beyond that it
// waits, and the wait counts as latency and as dispatch lag). Latency runs from the INTENDED time to the end of the
// answer, so a stalled server shows up as latency, never as fewer samples (coordinated-omission-safe).
//
//   http-load host=H port=P path=/api/commands tokens=FILE bodies=FILE max_conns=N timeout_ms=T
//     tokens: one bearer token per line (request i is sent as user i % users);
//     bodies: one JSON body per line (request i sends body (i / users) % bodies);
//   stdin, one command per line:
//     run RATE FIRST_US WINDOW_START_US END_US   (epoch µs) → one JSON report line on stdout when every request ended
//     quit
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RBUF 16384
#define MAX_ERR_KEYS 32

enum { C_CLOSED, C_CONNECTING, C_IDLE, C_BUSY };

typedef struct {
  int fd, state;
  long req;          // request index in flight
  double intended;   // its intended send time (µs)
  double sent;       // when it was handed to the socket (µs)
  double idle_since; // when it last became idle (µs)
  char *out;         // unsent rest of the request (rare: the socket buffer was full)
  size_t out_len, out_off;
  char rbuf[RBUF];
  size_t rlen;
} Conn;

static char host[256] = "127.0.0.1", path[512] = "/";
static int port = 0, max_conns = 256, timeout_ms = 10000;
static char **tokens, **bodies;
static size_t ntokens, nbodies;
static Conn *conns;
static int nconns, epfd;
// Idle connections (LIFO: the most recently used first) and closed slots, as index stacks: no scans per request.
static int *idle_stack, nidle, *closed_stack, nclosed, nconnecting;
static struct sockaddr_in addr;

// One run's tallies.
static long scheduled, accepted, rejected, pending, timeouts, completed_in_window, answered, in_flight, max_in_flight;
// Requests that found every connection busy when they fell due (the server held them all): their wait is latency, but
// not the generator's own lateness, so their dispatch lag is not recorded.
static long conn_waits, waited_until = -1;
static double *lat, *lag;
static size_t nlat, nlag, cap_lat, cap_lag;
static char err_key[MAX_ERR_KEYS][96];
static long err_count[MAX_ERR_KEYS];
static int nerr;
static double first_us, window_us, end_us, interval_us;

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void push(double **a, size_t *n, size_t *cap, double v) {
  if (*n == *cap) {
    *cap = *cap ? *cap * 2 : 4096;
    *a = realloc(*a, *cap * sizeof(double));
  }
  (*a)[(*n)++] = v;
}

static void count_error(const char *key) {
  for (int i = 0; i < nerr; i++)
    if (strcmp(err_key[i], key) == 0) {
      err_count[i]++;
      return;
    }
  if (nerr < MAX_ERR_KEYS) {
    snprintf(err_key[nerr], sizeof err_key[nerr], "%s", key);
    err_count[nerr++] = 1;
  }
}

static char **read_lines(const char *file, size_t *n) {
  FILE *f = fopen(file, "r");
  if (!f) {
    fprintf(stderr, "http-load: cannot open %s: %s\n", file, strerror(errno));
    exit(2);
  }
  char **out = NULL, *line = NULL;
  size_t cap = 0, len = 0;
  ssize_t r;
  *n = 0;
  while ((r = getline(&line, &len, f)) > 0) {
    while (r > 0 && (line[r - 1] == '\n' || line[r - 1] == '\r')) line[--r] = 0;
    if (r == 0) continue;
    if (*n == cap) out = realloc(out, (cap = cap ? cap * 2 : 1024) * sizeof(char *));
    out[(*n)++] = strdup(line);
  }
  free(line);
  fclose(f);
  return out;
}

static void idle_remove(Conn *c) {
  int k = (int)(c - conns);
  for (int j = 0; j < nidle; j++)
    if (idle_stack[j] == k) {
      idle_stack[j] = idle_stack[--nidle];
      return;
    }
}

static void set_idle(Conn *c) {
  c->state = C_IDLE;
  c->idle_since = now_us();
  idle_stack[nidle++] = (int)(c - conns);
}

static void conn_close(Conn *c) {
  if (c->state == C_CLOSED) return;
  if (c->state == C_IDLE) idle_remove(c);
  if (c->state == C_CONNECTING) nconnecting--;
  if (c->fd >= 0) close(c->fd);
  closed_stack[nclosed++] = (int)(c - conns);
  c->fd = -1;
  c->state = C_CLOSED;
  c->rlen = 0;
  free(c->out);
  c->out = NULL;
}

/** A request that ended without an answer: counted (in the window) under `key`. */
static void fail_request(Conn *c, const char *key) {
  if (c->state == C_BUSY) {
    in_flight--;
    if (c->intended >= window_us) count_error(key);
  }
  conn_close(c);
}

/** Opens a connection in a closed slot (taken off the closed stack by the caller). */
static int conn_open(Conn *c) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (c->fd < 0) {
    closed_stack[nclosed++] = (int)(c - conns);
    return -1;
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int r = connect(c->fd, (struct sockaddr *)&addr, sizeof addr);
  c->state = C_CONNECTING;
  nconnecting++;
  if (r < 0 && errno != EINPROGRESS) {
    conn_close(c);
    return -1;
  }
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.ptr = c};
  epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
  return 0;
}

static void want_out(Conn *c, int on) {
  struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0), .data.ptr = c};
  epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void send_request(Conn *c, long i) {
  const char *tok = tokens[i % ntokens];
  const char *body = bodies[(i / (long)ntokens) % (long)nbodies];
  size_t blen = strlen(body);
  char head[2048];
  int hlen = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                      path, host, port, tok, blen);
  size_t len = (size_t)hlen + blen;
  char *buf = malloc(len);
  memcpy(buf, head, (size_t)hlen);
  memcpy(buf + hlen, body, blen);
  c->state = C_BUSY;
  c->req = i;
  c->intended = first_us + i * interval_us;
  c->rlen = 0;
  in_flight++;
  if (in_flight > max_in_flight) max_in_flight = in_flight;
  double at = now_us();
  c->sent = at;
  if (c->intended >= window_us) {
    scheduled++;
    if (i <= waited_until) conn_waits++;
    else push(&lag, &nlag, &cap_lag, at - c->intended);
  }
  ssize_t w = send(c->fd, buf, len, MSG_NOSIGNAL);
  if (w == (ssize_t)len) {
    free(buf);
    return;
  }
  if (w < 0 && errno != EAGAIN) {
    free(buf);
    char key[96];
    snprintf(key, sizeof key, "request: %s", strerror(errno));
    fail_request(c, key);
    return;
  }
  c->out = buf;
  c->out_len = len;
  c->out_off = w < 0 ? 0 : (size_t)w;
  want_out(c, 1);
}

static void flush_out(Conn *c) {
  ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
  if (w < 0) {
    if (errno == EAGAIN) return;
    char key[96];
    snprintf(key, sizeof key, "request: %s", strerror(errno));
    fail_request(c, key);
    return;
  }
  c->out_off += (size_t)w;
  if (c->out_off == c->out_len) {
    free(c->out);
    c->out = NULL;
    want_out(c, 0);
  }
}

/** Value of a JSON string field (`"name":"value"`) in `body`, into `out`; empty when absent. */
static void json_string(const char *body, size_t len, const char *name, char *out, size_t cap) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":\"", name);
  out[0] = 0;
  const char *p = memmem(body, len, pat, strlen(pat));
  if (!p) return;
  p += strlen(pat);
  size_t k = 0;
  while (p < body + len && *p != '"' && k + 1 < cap) out[k++] = *p++;
  out[k] = 0;
}

/** Parses what was read; returns 1 when a whole answer was handled. */
static int on_answer(Conn *c) {
  c->rbuf[c->rlen < RBUF ? c->rlen : RBUF - 1] = 0;
  char *eoh = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
  if (!eoh) return 0;
  size_t head = (size_t)(eoh - c->rbuf) + 4;
  long clen = 0;
  int close_after = 0, chunked = 0;
  for (char *l = strstr(c->rbuf, "\r\n"); l && l < eoh; l = strstr(l + 2, "\r\n")) {
    if (strncasecmp(l + 2, "content-length:", 15) == 0) clen = strtol(l + 17, NULL, 10);
    else if (strncasecmp(l + 2, "connection: close", 17) == 0) close_after = 1;
    else if (strncasecmp(l + 2, "transfer-encoding: chunked", 26) == 0) chunked = 1;
  }
  // The gateway answers with Content-Length; anything else would be miscounted, so it is an error, loudly.
  if (chunked) {
    fail_request(c, "response: chunked encoding not supported by http-load");
    return 1;
  }
  if (c->rlen < head + (size_t)clen) return 0;
  double at = now_us();
  int status = atoi(c->rbuf + 9);
  const char *body = c->rbuf + head;
  int in_window = c->intended >= window_us;
  in_flight--;
  if (status == 200) {
    answered++;
    if (at >= window_us && at < end_us) completed_in_window++;
    if (in_window) {
      char outcome[32];
      json_string(body, (size_t)clen, "outcome", outcome, sizeof outcome);
      if (strcmp(outcome, "accepted") == 0) accepted++;
      else rejected++;
      push(&lat, &nlat, &cap_lat, at - c->intended);
    }
  } else if (in_window) {
    if (status == 504) pending++;
    else {
      char code[64], key[96];
      json_string(body, (size_t)clen, "code", code, sizeof code);
      snprintf(key, sizeof key, code[0] ? "HTTP %d %s" : "HTTP %d", status, code);
      count_error(key);
    }
  }
  c->rlen = 0;
  set_idle(c);
  if (close_after) conn_close(c);
  return 1;
}

static void on_event(Conn *c, uint32_t events) {
  if (c->state == C_CONNECTING) {
    int err = 0;
    socklen_t l = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
    if (err || (events & (EPOLLERR | EPOLLHUP))) {
      conn_close(c);
      char key[96];
      snprintf(key, sizeof key, "connect: %s", err ? strerror(err) : "failed");
      count_error(key);
      return;
    }
    if (events & EPOLLOUT) {
      nconnecting--;
      set_idle(c);
      want_out(c, 0);
    }
    return;
  }
  if ((events & EPOLLOUT) && c->out) flush_out(c);
  if (c->fd < 0) return;
  if (events & EPOLLIN) {
    for (;;) {
      if (c->rlen >= RBUF - 1) {
        fail_request(c, "response: too large");
        return;
      }
      ssize_t r = recv(c->fd, c->rbuf + c->rlen, RBUF - 1 - c->rlen, 0);
      if (r > 0) {
        c->rlen += (size_t)r;
        continue;
      }
      if (r == 0) {
        if (c->state == C_BUSY && !on_answer(c)) fail_request(c, "response: connection closed");
        else conn_close(c);
        return;
      }
      if (errno == EAGAIN) break;
      char key[96];
      snprintf(key, sizeof key, "response: %s", strerror(errno));
      fail_request(c, key);
      return;
    }
    if (c->state == C_BUSY) on_answer(c);
  }
  if (c->fd >= 0 && (events & (EPOLLERR | EPOLLHUP))) {
    if (c->state == C_BUSY) fail_request(c, "response: connection reset");
    else conn_close(c);
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void print_values(const char *name, double *a, size_t n) {
  printf(",\"%s\":[", name);
  for (size_t i = 0; i < n; i++) printf(i ? ",%.0f" : "%.0f", a[i] < 1 ? 1 : a[i]);
  printf("]");
}

static void run(double rate, double first, double window, double end) {
  first_us = first;
  window_us = window;
  end_us = end;
  interval_us = 1e6 / rate;
  long total = (long)ceil((end - first) / interval_us);
  if (total < 0) total = 0;
  scheduled = accepted = rejected = pending = timeouts = completed_in_window = answered = in_flight = max_in_flight = 0;
  nlat = nlag = 0;
  nerr = 0;
  double busy = 0;
  long next = 0;
  double last_timeout_check = 0;
  conn_waits = 0;
  waited_until = -1;
  struct epoll_event evs[256];
  // What happened while we waited for this run (a server closing idle connections) is handled first.
  for (int n; (n = epoll_wait(epfd, evs, 256, 0)) > 0;)
    for (int k = 0; k < n; k++) on_event((Conn *)evs[k].data.ptr, evs[k].events);
  while (next < total || in_flight > 0) {
    double t0 = now_us();
    // Client timeouts, from the send; and connections idle for 4 s are closed by us, before uWebSockets.js closes
    // idle keep-alive connections (10 s), so a request never races the server's close (a reset the server did not
    // make). Checked every 10 ms.
    if (t0 - last_timeout_check > 10000) {
      last_timeout_check = t0;
      for (int k = 0; k < nconns; k++) {
        Conn *c = &conns[k];
        if (c->state == C_BUSY && t0 - c->sent > timeout_ms * 1000.0) {
          in_flight--;
          if (c->intended >= window_us) timeouts++;
          conn_close(c);
        } else if (c->state == C_IDLE && t0 - c->idle_since > 4e6) {
          conn_close(c);
        }
      }
    }
    // Every due request goes out now, on an idle connection; for those left without one, new connections are opened
    // (a few at a time) while slots are free, and they wait.
    while (next < total && first_us + next * interval_us <= t0 && nidle > 0) {
      Conn *c = &conns[idle_stack[--nidle]];
      send_request(c, next++);
    }
    if (next < total && first_us + next * interval_us <= t0) {
      long last_due = (long)floor((t0 - first_us) / interval_us);
      if (last_due >= total) last_due = total - 1;
      if (nclosed == 0 && last_due > waited_until) waited_until = last_due;
      long short_by = last_due - next + 1 - nconnecting;
      while (short_by-- > 0 && nconnecting < 8 && nclosed > 0) conn_open(&conns[closed_stack[--nclosed]]);
    }
    // Until the next request falls due; when one is due but waits for a connection, until an answer or a connect.
    double wait_ms = 20;
    if (next < total) {
      double due = (first_us + next * interval_us - now_us()) / 1000;
      if (due <= 0 && nidle == 0) due = 5;
      if (due < wait_ms) wait_ms = due;
    }
    if (wait_ms < 0) wait_ms = 0;
    double before = now_us();
    if (before >= window_us && before < end_us) busy += before - t0;
    int n = epoll_wait(epfd, evs, 256, (int)ceil(wait_ms));
    double after = now_us();
    for (int k = 0; k < n; k++) on_event((Conn *)evs[k].data.ptr, evs[k].events);
    if (after >= window_us && after < end_us) busy += now_us() - after;
  }
  printf("{\"type\":\"report\",\"scheduled\":%ld,\"accepted\":%ld,\"rejected\":%ld,\"pending\":%ld,\"timeouts\":%ld,\"completedInWindow\":%ld,\"answered\":%ld,\"maxInFlight\":%ld,\"connWaits\":%ld,\"busy\":%.4f,\"errors\":{",
         scheduled, accepted, rejected, pending, timeouts, completed_in_window, answered, max_in_flight, conn_waits, busy / (end_us - window_us));
  for (int i = 0; i < nerr; i++) printf("%s\"%s\":%ld", i ? "," : "", err_key[i], err_count[i]);
  printf("}");
  qsort(lat, nlat, sizeof(double), cmp_double);
  print_values("latencyUs", lat, nlat);
  print_values("lagUs", lag, nlag);
  printf("}\n");
  fflush(stdout);
}

int main(int argc, char **argv) {
  const char *tokens_file = NULL, *bodies_file = NULL;
  for (int i = 1; i < argc; i++) {
    char *eq = strchr(argv[i], '=');
    if (!eq) continue;
    *eq = 0;
    const char *k = argv[i], *v = eq + 1;
    if (!strcmp(k, "host")) snprintf(host, sizeof host, "%s", v);
    else if (!strcmp(k, "port")) port = atoi(v);
    else if (!strcmp(k, "path")) snprintf(path, sizeof path, "%s", v);
    else if (!strcmp(k, "tokens")) tokens_file = v;
    else if (!strcmp(k, "bodies")) bodies_file = v;
    else if (!strcmp(k, "max_conns")) max_conns = atoi(v);
    else if (!strcmp(k, "timeout_ms")) timeout_ms = atoi(v);
  }
  if (!port || !tokens_file || !bodies_file) {
    fprintf(stderr, "usage: http-load host=H port=P path=/x tokens=FILE bodies=FILE [max_conns=N] [timeout_ms=T]\n");
    return 2;
  }
  tokens = read_lines(tokens_file, &ntokens);
  bodies = read_lines(bodies_file, &nbodies);
  if (!ntokens || !nbodies) {
    fprintf(stderr, "http-load: no tokens or no bodies\n");
    return 2;
  }
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
    fprintf(stderr, "http-load: host must be an IPv4 address\n");
    return 2;
  }
  nconns = max_conns;
  conns = calloc((size_t)nconns, sizeof(Conn));
  idle_stack = calloc((size_t)nconns, sizeof(int));
  closed_stack = calloc((size_t)nconns, sizeof(int));
  for (int k = nconns - 1; k >= 0; k--) {
    conns[k].fd = -1;
    conns[k].state = C_CLOSED;
    closed_stack[nclosed++] = k;
  }
  epfd = epoll_create1(0);
  printf("{\"type\":\"ready\"}\n");
  fflush(stdout);
  char line[256];
  while (fgets(line, sizeof line, stdin)) {
    double rate, first, window, end;
    if (sscanf(line, "run %lf %lf %lf %lf", &rate, &first, &window, &end) == 4 && rate > 0) run(rate, first, window, end);
    else if (!strncmp(line, "quit", 4)) break;
  }
  return 0;
}
