// bench:fanout native load client: one epoll loop, M non-blocking WebSocket connections (minimal RFC 6455 client).
// Built by bench/fanout/run.ts at run time (cc -O2). The Node `ws` client saturates near 100k msgs/s on the bench
// machine; this one reads packed array frames with a minimal JSON scan, so the server, not the client, is measured.
//
// Usage: client key=value…  (host port path origin first count universe=A,B,C per slow concurrency deadline_ms
//        reconnect_concurrency)
//        token from the environment (RAXX_BENCH_TOKEN), so it is not visible in the process list.
// Control on stdin, one word a line: reset | report | drop | stop.   Output on stdout, one JSON object a line:
//   {"type":"connected",…} once connecting is over; {"type":"report",…} per report; {"type":"resumed",…} after a drop.
// Per connection: subscribe quotes + trades of `per` symbols (a window of the universe rotating by global index,
// like scenarios.ts symbolsFor); every `1/slow`-th connection is never read after its subscription ack (a client that
// stopped reading). Per (kind, symbol): seq contiguity (gaps), stale frames; latency = receive wall time − frame `t`.
// `drop`: every open connection is reset at once (RST), reconnected and re-subscribed with `resume` = the last seq
// per key; the frames received before a key's resume answer are checked as a set (live frames may overtake the
// replayed ones), and the time until the last connection's last resume answer is reported.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

// ---------- histogram: HDR-like log buckets, 1,024 sub-buckets per power of two (≤ 0.1 % relative error) ----------
#define SUB 1024
#define NBUCKETS (2 * SUB + 40 * SUB)
static uint64_t hist[NBUCKETS];
static int hist_index(uint64_t v) {
  if (v < 2 * SUB) return (int)v;
  int shift = (63 - __builtin_clzll(v)) - 10; // v >> shift in [1024, 2047]
  int idx = 2 * SUB + (shift - 1) * SUB + (int)((v >> shift) - SUB);
  return idx < NBUCKETS ? idx : NBUCKETS - 1;
}
static uint64_t hist_value(int idx) { // highest value that maps to idx (HDR's "highest equivalent value")
  if (idx < 2 * SUB) return (uint64_t)idx;
  int shift = (idx - 2 * SUB) / SUB + 1;
  uint64_t sub = (uint64_t)((idx - 2 * SUB) % SUB + SUB);
  return ((sub + 1) << shift) - 1;
}

// ---------- clock ----------
static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
static int64_t mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
static char cached_sec[20];
static int64_t cached_sec_us;
// RFC 3339 "YYYY-MM-DDTHH:MM:SS[.fffffffff]Z" → µs since the epoch (UTC), or -1.
static int64_t parse_time_us(const char *s, int n) {
  if (n < 20) return -1;
  if (memcmp(s, cached_sec, 19) != 0) {
    struct tm tm = {0};
    tm.tm_year = atoi(s) - 1900;
    tm.tm_mon = (s[5] - '0') * 10 + (s[6] - '0') - 1;
    tm.tm_mday = (s[8] - '0') * 10 + (s[9] - '0');
    tm.tm_hour = (s[11] - '0') * 10 + (s[12] - '0');
    tm.tm_min = (s[14] - '0') * 10 + (s[15] - '0');
    tm.tm_sec = (s[17] - '0') * 10 + (s[18] - '0');
    memcpy(cached_sec, s, 19);
    cached_sec_us = (int64_t)timegm(&tm) * 1000000;
  }
  int64_t us = cached_sec_us;
  if (s[19] == '.') {
    int digits = 0, frac = 0;
    for (int i = 20; i < n && digits < 6; i++) {
      int c = s[i] - '0';
      if (c < 0 || c > 9) break;
      frac = frac * 10 + c;
      digits++;
    }
    while (digits < 6) frac *= 10, digits++;
    us += frac;
  }
  return us;
}

// ---------- configuration ----------
static const char *host = "127.0.0.1", *path = "/ws", *origin = "", *token = "";
/* RAXX_BENCH_TOKEN_FILE: one token per line; connection i (global index) uses line i mod ntokens (one user each). */
static char **tokens;
static int ntokens;
static int port = 0, first_index = 0, count = 0, per = 1, concurrency = 64, reconnect_concurrency = 0;
static double slow_fraction = 0;
static int64_t deadline_ms = 60000;
static char **universe;
static int nuniverse;
static struct sockaddr_in server_addr;

// Symbol → universe index (open addressing).
#define SYMTAB 4096
static int symtab[SYMTAB];
static uint32_t fnv(const char *s, int n) {
  uint32_t h = 2166136261u;
  for (int i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
  return h;
}
static void sym_add(int idx) {
  const char *s = universe[idx];
  uint32_t h = fnv(s, (int)strlen(s)) & (SYMTAB - 1);
  while (symtab[h] >= 0) h = (h + 1) & (SYMTAB - 1);
  symtab[h] = idx;
}
static int sym_find(const char *s, int n) {
  uint32_t h = fnv(s, n) & (SYMTAB - 1);
  while (symtab[h] >= 0) {
    const char *u = universe[symtab[h]];
    if ((int)strlen(u) == n && memcmp(u, s, n) == 0) return symtab[h];
    h = (h + 1) & (SYMTAB - 1);
  }
  return -1;
}

// ---------- per-connection state ----------
enum { ST_IDLE, ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_CLOSED };
typedef struct {
  int64_t last; // highest seq seen; 0 = none
  // Resume check: seqs received above `base` while the key's resume answer is outstanding (bit i = seq base+1+i).
  int64_t base;
  uint8_t *bits;
  int64_t nbits;
  int64_t maxseen;
  int resuming;
} seqkey_t;
typedef struct conn {
  int fd, state, index, slow, acked, nsym;
  int *syms; // universe indices
  seqkey_t *keys; // 2 × nsym: [k*nsym + j], kind 0 = q, 1 = t
  uint8_t *buf;
  size_t len, cap;
  uint8_t *frag; // fragmented message being reassembled
  size_t fraglen, fragcap;
  int fragop;
  char wbuf[4096]; // pending handshake bytes (only while connecting)
  int wlen;
  int resume_pending; // resume answers still expected after a drop
  int64_t started_us;
  int counted; // settled in the connect phase
  int rs; // 1 while reconnecting after a drop (counted in resume_outstanding until every resume answer is in)
  int rc_inflight; // a reconnect handshake in flight (limits concurrent reconnects)
} conn_t;
static conn_t *conns;
static int epfd;

// ---------- counters ----------
static uint64_t frames, ws_messages, slow_frames, gaps, stale, closed_after_open, replayed, resume_recovered,
    resume_not, errors_rx, lkg_frames;
static int64_t window_start_us;
static int64_t busy_us; // time outside epoll_wait in the window
static int open_count, failed_count;
static char first_errors[5][160];
static int nerrors;
static int connect_phase = 1, connect_inflight = 0, next_to_open = 0;
static int64_t connect_start_us;
static int *failed_indices;
static int nfailed_indices;
// drop / resume phase
static int resume_phase = 0, resume_outstanding = 0, reconnect_failed = 0;
static int *drop_list, ndrop;
static int64_t drop_us, resume_last_us;
static uint64_t resume_gaps;

static void note_error(const char *why) {
  for (int i = 0; i < nerrors; i++)
    if (strcmp(first_errors[i], why) == 0) return;
  if (nerrors < 5) snprintf(first_errors[nerrors++], sizeof first_errors[0], "%s", why);
}

static int is_slow(int index) {
  if (slow_fraction <= 0) return 0;
  long every = (long)(1.0 / slow_fraction + 0.5); // Math.round, as scenarios.ts isSlow
  if (every < 1) every = 1;
  return index % every == 0;
}

// ---------- writing ----------
static uint32_t rng_state = 0x9e3779b9;
static uint32_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}
// Sends one masked client frame (blocking-ish: small control/subscribe frames on a fresh socket always fit).
static int ws_send(conn_t *c, int opcode, const char *payload, size_t n) {
  uint8_t hdr[14];
  size_t h = 0;
  hdr[h++] = 0x80 | (uint8_t)opcode;
  if (n < 126) hdr[h++] = 0x80 | (uint8_t)n;
  else if (n < 65536) {
    hdr[h++] = 0x80 | 126;
    hdr[h++] = (uint8_t)(n >> 8);
    hdr[h++] = (uint8_t)n;
  } else {
    hdr[h++] = 0x80 | 127;
    for (int i = 7; i >= 0; i--) hdr[h++] = (uint8_t)((uint64_t)n >> (8 * i));
  }
  uint32_t mask = rnd();
  memcpy(hdr + h, &mask, 4);
  const uint8_t *m = hdr + h;
  h += 4;
  size_t total = h + n;
  uint8_t *out = malloc(total);
  memcpy(out, hdr, h);
  for (size_t i = 0; i < n; i++) out[h + i] = (uint8_t)payload[i] ^ m[i & 3];
  size_t off = 0;
  while (off < total) {
    ssize_t w = send(c->fd, out + off, total - off, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) { // a slow/never-read socket whose send side is full: give up on this control frame
        break;
      }
      free(out);
      return -1;
    }
    off += (size_t)w;
  }
  free(out);
  return 0;
}

static void send_subscribe(conn_t *c, int with_resume) {
  // {"action":"subscribe","quotes":[…],"trades":[…],"resume":{"q:A":n,…}}
  size_t cap = 256 + (size_t)c->nsym * 64;
  char *s = malloc(cap);
  size_t n = 0;
  n += (size_t)snprintf(s + n, cap - n, "{\"action\":\"subscribe\"");
  const char *names[2] = {"quotes", "trades"};
  for (int k = 0; k < 2; k++) {
    n += (size_t)snprintf(s + n, cap - n, ",\"%s\":[", names[k]);
    for (int j = 0; j < c->nsym; j++) n += (size_t)snprintf(s + n, cap - n, "%s\"%s\"", j ? "," : "", universe[c->syms[j]]);
    n += (size_t)snprintf(s + n, cap - n, "]");
  }
  if (with_resume) {
    int firstkey = 1;
    for (int k = 0; k < 2; k++)
      for (int j = 0; j < c->nsym; j++) {
        seqkey_t *key = &c->keys[k * c->nsym + j];
        if (key->last <= 0) continue;
        n += (size_t)snprintf(s + n, cap - n, "%s\"%c:%s\":%lld", firstkey ? ",\"resume\":{" : ",", k ? 't' : 'q',
                              universe[c->syms[j]], (long long)key->last);
        firstkey = 0;
        key->resuming = 1;
        key->base = key->last;
        key->maxseen = key->last;
        c->resume_pending++;
      }
    if (!firstkey) n += (size_t)snprintf(s + n, cap - n, "}");
  }
  n += (size_t)snprintf(s + n, cap - n, "}");
  ws_send(c, 1, s, n);
  free(s);
}

// ---------- connection lifecycle ----------
static void finish_resume(conn_t *c, int ok);
static void handshake_over(conn_t *c);
static void start_connect(conn_t *c);
static void settle(conn_t *c, int ok, const char *why);

static void close_conn(conn_t *c, int rst) {
  if (c->fd >= 0) {
    if (rst) {
      struct linger l = {1, 0};
      setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
  }
  c->fd = -1;
  c->len = 0;
  c->fraglen = 0;
  c->state = ST_CLOSED;
}

static void fail_conn(conn_t *c, const char *why) {
  int was_open = c->acked;
  close_conn(c, 0);
  if (!c->counted) settle(c, 0, why);
  else if (was_open) closed_after_open++;
  if (c->rs) {
    handshake_over(c);
    c->resume_pending = 0;
    finish_resume(c, 0);
    note_error(why);
  }
}

static void start_connect(conn_t *c) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    settle(c, 0, strerror(errno));
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (c->slow) { // a client that stops reading: a small receive window, so the server's outbox fills within seconds
    int rcv = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  }
#ifdef IP_BIND_ADDRESS_NO_PORT
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
#endif
  c->fd = fd;
  c->state = ST_CONNECTING;
  c->acked = 0;
  c->len = 0;
  c->fraglen = 0;
  c->started_us = mono_us();
  int r = connect(fd, (struct sockaddr *)&server_addr, sizeof server_addr);
  if (r < 0 && errno != EINPROGRESS) {
    char why[128];
    snprintf(why, sizeof why, "connect: %s", strerror(errno));
    close_conn(c, 0);
    settle(c, 0, why);
    return;
  }
  char key[25];
  static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int i = 0; i < 22; i++) key[i] = b64[rnd() & 63];
  key[22] = '=', key[23] = '=', key[24] = 0;
  c->wlen = snprintf(c->wbuf, sizeof c->wbuf,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nOrigin: %s\r\nAuthorization: Bearer %s\r\n\r\n",
                     path, host, port, key, origin, ntokens ? tokens[c->index % ntokens] : token);
  struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
  epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void open_more(void);
static void settle(conn_t *c, int ok, const char *why) {
  if (c->counted) return;
  c->counted = 1;
  connect_inflight--;
  if (ok) open_count++;
  else {
    failed_count++;
    failed_indices[nfailed_indices++] = c->index;
    if (why) note_error(why);
    if (c->fd >= 0) close_conn(c, 0);
  }
  open_more();
}

static void open_more(void) {
  if (!connect_phase) return;
  while (connect_inflight < concurrency && next_to_open < count && mono_us() - connect_start_us < deadline_ms * 1000) {
    conn_t *c = &conns[next_to_open++];
    connect_inflight++;
    start_connect(c);
  }
}

static void reconnect_more(void);
static int reconnect_next = 0, reconnect_inflight = 0;
static void finish_resume(conn_t *c, int ok) {
  if (!c->rs) return;
  c->rs = 0;
  resume_outstanding--;
  if (ok) resume_last_us = mono_us();
  else reconnect_failed++;
}
static void handshake_over(conn_t *c) {
  if (!c->rc_inflight) return;
  c->rc_inflight = 0;
  reconnect_inflight--;
}

// ---------- message handling ----------
static seqkey_t *find_key(conn_t *c, char kind, const char *sym, int n) {
  int k = kind == 'q' ? 0 : kind == 't' ? 1 : -1;
  if (k < 0) return NULL;
  int u = sym_find(sym, n);
  if (u < 0) return NULL;
  for (int j = 0; j < c->nsym; j++)
    if (c->syms[j] == u) return &c->keys[k * c->nsym + j];
  return NULL;
}

static void key_mark(seqkey_t *key, int64_t seq) {
  int64_t i = seq - key->base - 1;
  if (i < 0) return;
  if (i >= key->nbits) {
    int64_t nb = key->nbits ? key->nbits : 4096;
    while (nb <= i) nb *= 2;
    if (nb > (1 << 24)) return; // beyond 16 M missed seqs: not tracked
    key->bits = realloc(key->bits, (size_t)(nb / 8));
    memset(key->bits + key->nbits / 8, 0, (size_t)((nb - key->nbits) / 8));
    key->nbits = nb;
  }
  key->bits[i >> 3] |= (uint8_t)(1 << (i & 7));
  if (seq > key->maxseen) key->maxseen = seq;
}

// The resume answer for one key: every seq in (base, max(lastSeq, maxseen)] must have arrived.
static void key_resumed(conn_t *c, seqkey_t *key, int recovered, int64_t last_seq) {
  if (!key->resuming) return;
  key->resuming = 0;
  if (recovered) {
    int64_t top = last_seq > key->maxseen ? last_seq : key->maxseen;
    uint64_t missing = 0;
    for (int64_t s = key->base + 1; s <= top; s++) {
      int64_t i = s - key->base - 1;
      if (i >= key->nbits || !(key->bits[i >> 3] & (1 << (i & 7)))) missing++;
    }
    resume_gaps += missing;
    resume_recovered++;
    if (top > key->last) key->last = top;
  } else
    resume_not++;
  free(key->bits);
  key->bits = NULL;
  key->nbits = 0;
  if (--c->resume_pending == 0) finish_resume(c, 1);
}

// Minimal scan of one flat JSON object [s, e): the string values of T, S, t, src, the integer seq.
typedef struct {
  const char *T, *S, *t, *src, *key;
  int Tn, Sn, tn, srcn, keyn;
  int64_t seq, lastSeq;
  int has_seq, recovered;
} fields_t;
static const char *scan_object(const char *p, const char *e, fields_t *f) {
  memset(f, 0, sizeof *f);
  f->recovered = -1;
  // p at '{'
  p++;
  while (p < e) {
    while (p < e && (*p == ' ' || *p == ',' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    if (p >= e) break;
    if (*p == '}') return p + 1;
    if (*p != '"') return NULL;
    const char *k = ++p;
    while (p < e && *p != '"') p += (*p == '\\') ? 2 : 1;
    int kn = (int)(p - k);
    p++;
    while (p < e && (*p == ' ' || *p == ':')) p++;
    if (p >= e) return NULL;
    if (*p == '"') {
      const char *v = ++p;
      while (p < e && *p != '"') p += (*p == '\\') ? 2 : 1;
      int vn = (int)(p - v);
      p++;
      if (kn == 1 && k[0] == 'T') f->T = v, f->Tn = vn;
      else if (kn == 1 && k[0] == 'S') f->S = v, f->Sn = vn;
      else if (kn == 1 && k[0] == 't') f->t = v, f->tn = vn;
      else if (kn == 3 && memcmp(k, "src", 3) == 0) f->src = v, f->srcn = vn;
      else if (kn == 3 && memcmp(k, "key", 3) == 0) f->key = v, f->keyn = vn;
    } else if (*p == '{' || *p == '[') { // nested value: skip, strings aware
      int depth = 0;
      while (p < e) {
        if (*p == '"') {
          p++;
          while (p < e && *p != '"') p += (*p == '\\') ? 2 : 1;
        } else if (*p == '{' || *p == '[') depth++;
        else if (*p == '}' || *p == ']') {
          if (--depth == 0) {
            p++;
            break;
          }
        }
        p++;
      }
    } else {
      const char *v = p;
      while (p < e && *p != ',' && *p != '}') p++;
      if (kn == 3 && memcmp(k, "seq", 3) == 0) f->seq = strtoll(v, NULL, 10), f->has_seq = 1;
      else if (kn == 7 && memcmp(k, "lastSeq", 7) == 0) f->lastSeq = strtoll(v, NULL, 10);
      else if (kn == 9 && memcmp(k, "recovered", 9) == 0) f->recovered = (*v == 't');
    }
  }
  return NULL;
}

static void on_tick(conn_t *c, fields_t *f, int64_t recv_us, int *live) {
  if (!f->has_seq || !f->T || !f->S || f->Tn != 1) return;
  seqkey_t *key = find_key(c, f->T[0], f->S, f->Sn);
  if (!key) return;
  int rt = f->srcn == 2 && f->src[0] == 'r' && f->src[1] == 't';
  if (key->resuming) { // a live or replayed frame while the key's resume answer is outstanding: checked as a set
    if (f->seq > key->base) {
      key_mark(key, f->seq);
      replayed += 1;
    } else
      stale++;
    return;
  }
  int64_t last = key->last;
  if (last > 0 && f->seq <= last) {
    stale++;
    return;
  }
  key->last = f->seq;
  if (!rt) {
    lkg_frames++;
    return;
  }
  (*live)++;
  if (c->slow) return;
  if (last > 0 && f->seq > last + 1) gaps += (uint64_t)(f->seq - last - 1);
  if (f->t) {
    int64_t t = parse_time_us(f->t, f->tn);
    if (t > 0) {
      int64_t lat = recv_us - t;
      hist[hist_index(lat < 1 ? 1 : (uint64_t)lat)]++;
    }
  }
}

static void on_text(conn_t *c, const char *s, size_t n, int64_t recv_us) {
  const char *p = s, *e = s + n;
  while (p < e && (*p == ' ' || *p == '\n')) p++;
  if (p >= e) return;
  fields_t f;
  if (*p == '[') {
    int live = 0;
    p++;
    while (p < e) {
      while (p < e && (*p == ',' || *p == ' ' || *p == '\n')) p++;
      if (p >= e || *p == ']') break;
      if (*p != '{') break;
      const char *q = scan_object(p, e, &f);
      if (!q) break;
      on_tick(c, &f, recv_us, &live);
      p = q;
    }
    if (c->slow) slow_frames += (uint64_t)live;
    else if (live > 0) {
      frames += (uint64_t)live;
      ws_messages++;
    }
    return;
  }
  if (*p != '{' || !scan_object(p, e, &f) || !f.T) return;
  if (f.Tn == 12 && memcmp(f.T, "subscription", 12) == 0) {
    if (!c->acked) {
      c->acked = 1;
      if (!c->counted) settle(c, 1, NULL);
      if (c->rs && c->resume_pending == 0) finish_resume(c, 1); // reconnected with no key to resume
      if (c->slow) epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL); // never read again
    }
  } else if (f.Tn == 6 && memcmp(f.T, "resume", 6) == 0 && f.key && f.keyn > 2) {
    seqkey_t *key = find_key(c, f.key[0], f.key + 2, f.keyn - 2);
    if (key) key_resumed(c, key, f.recovered == 1, f.lastSeq);
  } else if (f.Tn == 5 && memcmp(f.T, "error", 5) == 0) {
    errors_rx++;
    char why[160];
    snprintf(why, sizeof why, "server error: %.*s", (int)(n > 120 ? 120 : n), s);
    note_error(why);
  }
}

// Parses complete frames in c->buf; returns -1 when the connection must go.
static int on_bytes(conn_t *c, int64_t recv_us) {
  size_t off = 0;
  while (c->len - off >= 2) {
    uint8_t *b = c->buf + off;
    int fin = b[0] & 0x80, op = b[0] & 0x0f, masked = b[1] & 0x80;
    uint64_t n = b[1] & 0x7f;
    size_t h = 2;
    if (n == 126) {
      if (c->len - off < 4) break;
      n = ((uint64_t)b[2] << 8) | b[3];
      h = 4;
    } else if (n == 127) {
      if (c->len - off < 10) break;
      n = 0;
      for (int i = 0; i < 8; i++) n = (n << 8) | b[2 + i];
      h = 10;
    }
    if (masked) h += 4; // servers must not mask; tolerated
    if (c->len - off < h + n) {
      if (h + n > c->cap) { // grow for a large frame
        size_t nc = c->cap;
        while (nc < h + n) nc *= 2;
        memmove(c->buf, c->buf + off, c->len - off);
        c->len -= off;
        off = 0;
        c->buf = realloc(c->buf, nc);
        c->cap = nc;
      }
      break;
    }
    uint8_t *payload = b + h;
    if (masked)
      for (uint64_t i = 0; i < n; i++) payload[i] ^= b[h - 4 + (i & 3)];
    if (op == 0x9) ws_send(c, 0xA, (const char *)payload, n); // ping → pong
    else if (op == 0x8) {
      ws_send(c, 0x8, (const char *)payload, n < 2 ? n : 2);
      return -1;
    } else if (op == 0x1 || op == 0x2 || op == 0x0) {
      if (op != 0 && fin) {
        if (op == 1) on_text(c, (const char *)payload, n, recv_us);
      } else { // fragmented message
        if (op != 0) c->fragop = op, c->fraglen = 0;
        if (c->fraglen + n > c->fragcap) {
          c->fragcap = (c->fraglen + n) * 2;
          c->frag = realloc(c->frag, c->fragcap);
        }
        memcpy(c->frag + c->fraglen, payload, n);
        c->fraglen += n;
        if (fin) {
          if (c->fragop == 1) on_text(c, (const char *)c->frag, c->fraglen, recv_us);
          c->fraglen = 0;
        }
      }
    }
    off += h + n;
  }
  if (off > 0) {
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
  }
  return 0;
}

static void on_handshake(conn_t *c) {
  uint8_t *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
  if (!end) {
    if (c->len > 8192) fail_conn(c, "handshake response too large");
    return;
  }
  if (c->len < 12 || memcmp(c->buf, "HTTP/1.1 101", 12) != 0) {
    char why[64];
    snprintf(why, sizeof why, "HTTP %.3s", c->len >= 12 ? (const char *)c->buf + 9 : "???");
    fail_conn(c, why);
    return;
  }
  size_t hl = (size_t)(end - c->buf) + 4;
  memmove(c->buf, c->buf + hl, c->len - hl);
  c->len -= hl;
  c->state = ST_OPEN;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
  handshake_over(c);
  send_subscribe(c, c->rs);
}

static void on_event(conn_t *c, uint32_t events) {
  if (c->state == ST_CONNECTING) {
    if (events & (EPOLLERR | EPOLLHUP)) {
      int err = 0;
      socklen_t l = sizeof err;
      getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
      char why[128];
      snprintf(why, sizeof why, "connect: %s", strerror(err ? err : ECONNRESET));
      fail_conn(c, why);
      return;
    }
    if (events & EPOLLOUT) {
      ssize_t w = send(c->fd, c->wbuf, (size_t)c->wlen, MSG_NOSIGNAL);
      if (w != c->wlen) {
        fail_conn(c, "handshake write failed");
        return;
      }
      c->state = ST_HANDSHAKE;
      struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
      epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    }
    return;
  }
  for (;;) {
    if (c->len == c->cap) {
      c->cap *= 2;
      c->buf = realloc(c->buf, c->cap);
    }
    ssize_t r = read(c->fd, c->buf + c->len, c->cap - c->len);
    if (r < 0) {
      if (errno == EAGAIN) return;
      if (errno == EINTR) continue;
      fail_conn(c, strerror(errno));
      return;
    }
    if (r == 0) {
      fail_conn(c, c->state == ST_HANDSHAKE ? "closed during handshake" : "closed by server");
      return;
    }
    c->len += (size_t)r;
    int64_t recv_us = now_us();
    if (c->state == ST_HANDSHAKE) {
      on_handshake(c);
      if (c->state != ST_OPEN) return;
    }
    if (on_bytes(c, recv_us) < 0) {
      fail_conn(c, "close frame from server");
      return;
    }
    if (c->slow && c->acked) return; // stopped reading
    if ((size_t)r < c->cap / 2) return; // drained (a short read means the socket is empty, usually)
  }
}

// ---------- reporting ----------
static void print_hist(void) {
  printf("\"histogram\":[");
  int firstv = 1;
  for (int i = 0; i < NBUCKETS; i++)
    if (hist[i]) {
      printf("%s[%llu,%llu]", firstv ? "" : ",", (unsigned long long)hist_value(i), (unsigned long long)hist[i]);
      firstv = 0;
    }
  printf("]");
}
static void print_errors(void) {
  printf("\"errors\":[");
  for (int i = 0; i < nerrors; i++) {
    printf("%s\"", i ? "," : "");
    for (const char *p = first_errors[i]; *p; p++) {
      if (*p == '"' || *p == '\\') putchar('\\');
      if ((unsigned char)*p >= 32) putchar(*p);
    }
    printf("\"");
  }
  printf("]");
}
static void report_connected(void) {
  connect_phase = 0;
  // Anything not opened by now is failed.
  for (int i = 0; i < count; i++) {
    conn_t *c = &conns[i];
    if (!c->counted) {
      c->counted = 1;
      failed_count++;
      failed_indices[nfailed_indices++] = c->index;
      if (c->fd >= 0) close_conn(c, 0);
      note_error("connect deadline passed");
    }
  }
  printf("{\"type\":\"connected\",\"open\":%d,\"failed\":%d,\"ms\":%lld,", open_count, failed_count,
         (long long)((mono_us() - connect_start_us) / 1000));
  print_errors();
  printf(",\"failedIndices\":[");
  for (int i = 0; i < nfailed_indices; i++) printf("%s%d", i ? "," : "", failed_indices[i]);
  printf("]}\n");
  fflush(stdout);
}
static void do_reset(void) {
  memset(hist, 0, sizeof hist);
  frames = ws_messages = slow_frames = gaps = stale = replayed = lkg_frames = 0;
  busy_us = 0;
  window_start_us = mono_us();
}
static void do_report(void) {
  int64_t w = mono_us() - window_start_us;
  printf("{\"type\":\"report\",\"windowMs\":%.3f,\"frames\":%llu,\"wsMessages\":%llu,\"slowFrames\":%llu,\"gaps\":%llu,"
         "\"stale\":%llu,\"closed\":%llu,\"busy\":%.4f,\"errorsRx\":%llu,",
         w / 1000.0, (unsigned long long)frames, (unsigned long long)ws_messages, (unsigned long long)slow_frames,
         (unsigned long long)gaps, (unsigned long long)stale, (unsigned long long)closed_after_open,
         w > 0 ? (double)busy_us / (double)w : 0.0, (unsigned long long)errors_rx);
  print_hist();
  printf("}\n");
  fflush(stdout);
}
static void report_resumed(void) {
  uint64_t open_now = 0;
  for (int i = 0; i < count; i++) open_now += conns[i].state == ST_OPEN && conns[i].acked;
  printf("{\"type\":\"resumed\",\"dropped\":%d,\"started\":%d,\"reconnected\":%llu,\"failed\":%d,\"outstanding\":%d,\"ms\":%.3f,"
         "\"recovered\":%llu,\"notRecovered\":%llu,\"replayed\":%llu,\"gaps\":%llu,",
         ndrop, reconnect_next, (unsigned long long)open_now, reconnect_failed, resume_outstanding,
         (resume_last_us ? resume_last_us - drop_us : mono_us() - drop_us) / 1000.0, (unsigned long long)resume_recovered,
         (unsigned long long)resume_not, (unsigned long long)replayed, (unsigned long long)resume_gaps);
  print_errors();
  printf("}\n");
  fflush(stdout);
}

// Drop: RST every open connection at once, then reconnect them all (concurrency-limited) with resume.
static void do_drop(void) {
  ndrop = 0;
  for (int i = 0; i < count; i++) {
    conn_t *c = &conns[i];
    if (c->state == ST_OPEN && c->acked && !c->slow) {
      close_conn(c, 1);
      drop_list[ndrop++] = i;
    }
  }
  drop_us = mono_us();
  resume_last_us = 0;
  resume_phase = 1;
  resume_outstanding = ndrop;
  resume_recovered = resume_not = resume_gaps = replayed = 0;
  reconnect_failed = 0;
  reconnect_next = 0;
  reconnect_inflight = 0;
  nerrors = 0;
  reconnect_more();
}
static void reconnect_more(void) {
  int limit = reconnect_concurrency > 0 ? reconnect_concurrency : concurrency;
  while (reconnect_inflight < limit && reconnect_next < ndrop) {
    conn_t *c = &conns[drop_list[reconnect_next++]];
    c->counted = 1; // connect-phase accounting is over
    c->resume_pending = 0;
    c->rs = 1;
    c->rc_inflight = 1;
    reconnect_inflight++;
    start_connect(c);
    if (c->fd < 0) fail_conn(c, "reconnect failed");
  }
}

int main(int argc, char **argv) {
  char *uni = NULL;
  for (int i = 1; i < argc; i++) {
    char *eq = strchr(argv[i], '=');
    if (!eq) continue;
    *eq = 0;
    const char *k = argv[i], *v = eq + 1;
    if (!strcmp(k, "host")) host = v;
    else if (!strcmp(k, "port")) port = atoi(v);
    else if (!strcmp(k, "path")) path = v;
    else if (!strcmp(k, "origin")) origin = v;
    else if (!strcmp(k, "first")) first_index = atoi(v);
    else if (!strcmp(k, "count")) count = atoi(v);
    else if (!strcmp(k, "per")) per = atoi(v);
    else if (!strcmp(k, "slow")) slow_fraction = atof(v);
    else if (!strcmp(k, "concurrency")) concurrency = atoi(v);
    else if (!strcmp(k, "reconnect_concurrency")) reconnect_concurrency = atoi(v);
    else if (!strcmp(k, "deadline_ms")) deadline_ms = atoll(v);
    else if (!strcmp(k, "universe")) uni = strdup(v);
  }
  const char *tk = getenv("RAXX_BENCH_TOKEN");
  if (tk) token = tk;
  const char *tf = getenv("RAXX_BENCH_TOKEN_FILE");
  if (tf) {
    FILE *f = fopen(tf, "r");
    if (!f) {
      fprintf(stderr, "cannot read RAXX_BENCH_TOKEN_FILE %s: %s\n", tf, strerror(errno));
      return 2;
    }
    int cap = 1024;
    tokens = malloc(sizeof(char *) * (size_t)cap);
    char line[4096];
    while (fgets(line, sizeof line, f)) {
      size_t n = strcspn(line, "\r\n");
      if (n == 0) continue;
      line[n] = 0;
      if (ntokens == cap) tokens = realloc(tokens, sizeof(char *) * (size_t)(cap *= 2));
      tokens[ntokens++] = strdup(line);
    }
    fclose(f);
    if (ntokens == 0) {
      fprintf(stderr, "RAXX_BENCH_TOKEN_FILE %s holds no token\n", tf);
      return 2;
    }
  }
  if (!uni || port <= 0) {
    fprintf(stderr, "usage: client host=… port=… universe=A,B first=… count=… per=… (token in RAXX_BENCH_TOKEN)\n");
    return 2;
  }
  for (int i = 0; i < SYMTAB; i++) symtab[i] = -1;
  universe = calloc(strlen(uni) + 1, sizeof(char *));
  for (char *s = strtok(uni, ","); s; s = strtok(NULL, ",")) universe[nuniverse++] = s;
  for (int i = 0; i < nuniverse; i++) sym_add(i);
  memset(&server_addr, 0, sizeof server_addr);
  server_addr.sin_family = AF_INET;
  server_addr.sin_port = htons((uint16_t)port);
  inet_pton(AF_INET, host, &server_addr.sin_addr);
  rng_state ^= (uint32_t)getpid() * 2654435761u;

  conns = calloc((size_t)count, sizeof(conn_t));
  failed_indices = calloc((size_t)count + 1, sizeof(int));
  drop_list = calloc((size_t)count + 1, sizeof(int));
  int n = per < nuniverse ? per : nuniverse;
  for (int i = 0; i < count; i++) {
    conn_t *c = &conns[i];
    c->fd = -1;
    c->index = first_index + i;
    c->slow = is_slow(c->index);
    c->nsym = n;
    c->syms = calloc((size_t)n, sizeof(int));
    int start = (int)(((long)c->index * n) % nuniverse);
    for (int k = 0; k < n; k++) c->syms[k] = (start + k) % nuniverse;
    c->keys = calloc((size_t)(2 * n), sizeof(seqkey_t));
    c->cap = 16384;
    c->buf = malloc(c->cap);
  }
  epfd = epoll_create1(EPOLL_CLOEXEC);
  int flags = fcntl(0, F_GETFL);
  fcntl(0, F_SETFL, flags | O_NONBLOCK);
  struct epoll_event sev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &sev);

  connect_start_us = mono_us();
  window_start_us = connect_start_us;
  open_more();
  if (count == 0) report_connected();
  struct epoll_event evs[512];
  char line[256];
  size_t linelen = 0;
  int64_t last_sweep_us = 0;
  for (;;) {
    int timeout = connect_phase ? 100 : (resume_phase ? 50 : 1000);
    int ne = epoll_wait(epfd, evs, 512, timeout);
    int64_t t0 = mono_us();
    for (int i = 0; i < ne; i++) {
      if (evs[i].data.ptr == NULL) { // stdin: control words
        for (;;) {
          ssize_t r = read(0, line + linelen, sizeof line - 1 - linelen);
          if (r == 0) return 0; // parent gone
          if (r < 0) break;
          linelen += (size_t)r;
          char *nl;
          while ((nl = memchr(line, '\n', linelen))) {
            *nl = 0;
            if (!strcmp(line, "reset")) do_reset();
            else if (!strcmp(line, "report")) do_report();
            else if (!strcmp(line, "drop")) do_drop();
            else if (!strcmp(line, "stop")) return 0;
            size_t used = (size_t)(nl - line) + 1;
            memmove(line, nl + 1, linelen - used);
            linelen -= used;
          }
          if (linelen >= sizeof line - 1) linelen = 0;
        }
        continue;
      }
      on_event(evs[i].data.ptr, evs[i].events);
    }
    if (connect_phase) {
      int64_t now = mono_us();
      if (now - last_sweep_us > 200000) {
        last_sweep_us = now;
        for (int i = 0; i < next_to_open; i++) { // subscription-ack timeout: 30 s per connection
          conn_t *c = &conns[i];
          if (!c->counted && now - c->started_us > 30000000) fail_conn(c, "no subscription ack in 30 s");
        }
      }
      if (open_count + failed_count >= count || now - connect_start_us >= deadline_ms * 1000) report_connected();
    } else if (resume_phase) {
      reconnect_more();
      if (resume_outstanding <= 0 && reconnect_next >= ndrop) {
        report_resumed();
        resume_phase = 0;
      } else if (mono_us() - drop_us > 60000000) {
        report_resumed();
        resume_phase = 0;
      }
    }
    busy_us += mono_us() - t0;
  }
}
