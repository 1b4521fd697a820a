/*
 * Gnomon bench: NTP load generator (loopback only).
 *
 * Sends NTPv4 mode 3 requests (48 bytes) to 127.0.0.1:PORT from N connected UDP
 * sockets (N source ports), keeps at most WINDOW requests outstanding, matches
 * each reply by the origin timestamp (our transmit timestamp, echoed by the
 * server), and records the send->receive latency (CLOCK_MONOTONIC) in a
 * log-linear histogram. Prints one JSON line on stdout: sent, replies, replies/s,
 * latency percentiles (µs), lost / KoD / wrong-origin / late counts, malformed replies,
 * the offset the replies imply against this host's CLOCK_REALTIME (same clock as the
 * server's, so ideally 0), the server's T3-T2, and with --server-pid the server's CPU time
 * (/proc/PID/stat utime+stime, before and after). Interference from other processes is reported
 * as run-queue wait (/proc/.../schedstat) of the server's main thread and of the load generator.
 *
 * Modes:
 *   closed loop (default): keep WINDOW requests in flight; measures capacity.
 *   fixed rate (--rate R):  send R requests/s (still capped by WINDOW); with
 *                           --server-pid, reports the server's CPU time per reply.
 *   many clients (--addresses N): request k goes out from source address number k mod N of
 *                           127.1.0.0 + [0, N) (N <= 2^22, so at most 127.64.255.255), set per
 *                           message with IP_PKTINFO (ipi_spec_dst); the sockets are bound to the
 *                           wildcard address but, with SO_BINDTODEVICE "lo", only on loopback.
 *                           Each reply's destination address (IP_PKTINFO on receive) is checked
 *                           against the address its request left from ("reply_addr_mismatch"),
 *                           so the server is seen answering N distinct clients. Needs root
 *                           (SO_BINDTODEVICE).
 *
 * Bounded: --duration (default 5 s, hard cap 60 s) and --max-requests (default
 * 20M, hard cap 100M); after that a drain of at most 300 ms; alarm() kills the
 * process if anything hangs. Only 127.0.0.1 is ever addressed.
 *
 * Build: gcc -O2 -Wall -o bench/build/loadgen bench/loadgen.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SOCKETS 256
#define MAX_WINDOW 4096
#define RING_BITS 16
#define RING_SIZE (1u << RING_BITS)
#define RING_MASK (RING_SIZE - 1)
#define BATCH 32
#define HARD_MAX_DURATION_S 60.0
#define HARD_MAX_REQUESTS 100000000ULL
#define DRAIN_NS 300000000LL
#define NTP_UNIX_DELTA 2208988800LL
#define ADDR_BASE 0x7f010000u /* 127.1.0.0: clear of 127.0.0.x, which other tests use */
#define ADDR_MAX (1u << 22)

/* ---- histogram: log-linear over nanoseconds, 64 sub-buckets per octave ---- */
#define H_SUB_BITS 6
#define H_SUB (1 << H_SUB_BITS)
#define H_LINEAR (2 * H_SUB) /* values < 128 ns get their own bucket */
#define H_OCTAVES 40
#define H_BUCKETS (H_LINEAR + H_OCTAVES * H_SUB)

typedef struct {
  uint64_t b[H_BUCKETS];
  uint64_t n;
  int64_t max;
} hist_t;

static int hist_index(int64_t v) {
  if (v < 0) v = 0;
  if (v < H_LINEAR) return (int)v;
  int e = 63 - __builtin_clzll((uint64_t)v); /* e >= 7 */
  int sub = (int)((v >> (e - H_SUB_BITS)) & (H_SUB - 1));
  int idx = H_LINEAR + (e - (H_SUB_BITS + 1)) * H_SUB + sub;
  return idx >= H_BUCKETS ? H_BUCKETS - 1 : idx;
}

/* Upper edge of a bucket (conservative percentile). */
static int64_t hist_value(int idx) {
  if (idx < H_LINEAR) return idx;
  int o = (idx - H_LINEAR) / H_SUB;
  int sub = (idx - H_LINEAR) % H_SUB;
  int e = o + H_SUB_BITS + 1;
  int64_t base = (int64_t)1 << e;
  int64_t step = (int64_t)1 << (e - H_SUB_BITS);
  return base + (int64_t)sub * step + step - 1;
}

static void hist_add(hist_t *h, int64_t v) {
  h->b[hist_index(v)]++;
  h->n++;
  if (v > h->max) h->max = v;
}

static int64_t hist_pct(const hist_t *h, double p) {
  if (h->n == 0) return -1;
  uint64_t target = (uint64_t)(p * (double)h->n);
  if (target >= h->n) target = h->n - 1;
  uint64_t acc = 0;
  for (int i = 0; i < H_BUCKETS; i++) {
    acc += h->b[i];
    if (acc > target) {
      int64_t v = hist_value(i);
      return v > h->max ? h->max : v;
    }
  }
  return h->max;
}

/* ---- state ---- */
typedef struct {
  int64_t sent_ns; /* monotonic */
  uint32_t seq;
  uint32_t src;    /* source address (host order) in --addresses mode */
  uint16_t sock;
  uint8_t active;
} slot_t;

static slot_t ring[RING_SIZE];
static hist_t lat_hist;
static hist_t offset_hist; /* |offset| in ns */
static hist_t hold_hist;   /* server's transmit - receive timestamp (T3 - T2), ns */
static int64_t offset_min_ns = INT64_MAX, offset_max_ns = INT64_MIN;
static double offset_sum_ns;
static uint64_t offset_pos;

static struct {
  uint64_t sent, replies, matched, lost, late_or_dup, wrong_origin, kod, short_len,
      bad_mode, bad_version, leap_unsync, zero_tx, rx_after_tx, send_err, window_full, recv_err, addr_mismatch,
      addr_checked;
} st;

static int have_first;
static uint8_t first_reply[48];

static int64_t now_mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t now_real(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint32_t rd32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static void wr32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* NTP 64-bit timestamp -> Unix ns, era resolved against a reference Unix second. */
static int64_t ntp_to_unix_ns(const uint8_t *p, int64_t ref_unix_s) {
  uint32_t sec = rd32(p), frac = rd32(p + 4);
  uint32_t ref_ntp = (uint32_t)(ref_unix_s + NTP_UNIX_DELTA);
  int64_t unix_s = ref_unix_s + (int32_t)(sec - ref_ntp);
  return unix_s * 1000000000LL + (int64_t)(((uint64_t)frac * 1000000000ULL) >> 32);
}

/* A small /proc file into buf (NUL-terminated); 0 on success, -1 when it cannot be read. */
static int read_small_file(const char *path, char *buf, size_t size) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, size - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  return 0;
}

static long long read_proc_cpu_ticks(int pid) {
  char path[64], buf[2048];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  if (read_small_file(path, buf, sizeof buf) != 0) return -1;
  char *p = strrchr(buf, ')'); /* comm may contain spaces */
  if (!p) return -1;
  p += 2; /* now at field 3 (state) */
  unsigned long long utime = 0, stime = 0;
  /* fields 3..13 skipped, 14 utime, 15 stime */
  if (sscanf(p, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) return -1;
  return (long long)(utime + stime);
}

/* Run-queue wait (ns) of a task from /proc/.../schedstat: time it was runnable but not running. */
static long long read_runq_wait_ns(const char *path) {
  char buf[256];
  if (read_small_file(path, buf, sizeof buf) != 0) return -1;
  unsigned long long run = 0, wait = 0;
  if (sscanf(buf, "%llu %llu", &run, &wait) != 2) return -1;
  return (long long)wait;
}

static void usage(void) {
  fprintf(stderr,
          "usage: loadgen --port P [--sockets N=16] [--window W=128] [--duration S=5 (<=60)]\n"
          "               [--max-requests M=20000000] [--rate R (fixed rate; 0 = closed loop)]\n"
          "               [--timeout-ms T=500] [--server-pid PID] [--label NAME]\n"
          "               [--addresses N (sources 127.1.0.0 + k mod N; N <= 4194304)]\n");
  exit(2);
}

int main(int argc, char **argv) {
  int port = 0, nsock = 16, window = 128, server_pid = 0, timeout_ms = 500;
  uint32_t naddr = 0; /* 0: every socket bound to 127.0.0.1 (one address, nsock ports) */
  double duration = 5.0, rate = 0.0;
  unsigned long long max_req = 20000000ULL;
  const char *label = "";

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) usage();
    if (!strcmp(a, "--port")) port = atoi(v);
    else if (!strcmp(a, "--sockets")) nsock = atoi(v);
    else if (!strcmp(a, "--window")) window = atoi(v);
    else if (!strcmp(a, "--duration")) duration = atof(v);
    else if (!strcmp(a, "--max-requests")) max_req = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--rate")) rate = atof(v);
    else if (!strcmp(a, "--timeout-ms")) timeout_ms = atoi(v);
    else if (!strcmp(a, "--server-pid")) server_pid = atoi(v);
    else if (!strcmp(a, "--label")) label = v;
    else if (!strcmp(a, "--addresses")) naddr = (uint32_t)strtoul(v, NULL, 10);
    else usage();
    i++;
  }
  if (port <= 0 || port > 65535) usage();
  if (nsock < 1) nsock = 1;
  if (nsock > MAX_SOCKETS) nsock = MAX_SOCKETS;
  if (window < 1) window = 1;
  if (window > MAX_WINDOW) window = MAX_WINDOW;
  if (!(duration > 0)) duration = 5.0;
  if (duration > HARD_MAX_DURATION_S) duration = HARD_MAX_DURATION_S;
  if (max_req < 1) max_req = 1;
  if (max_req > HARD_MAX_REQUESTS) max_req = HARD_MAX_REQUESTS;
  if (rate < 0) rate = 0;
  if (timeout_ms < 1) timeout_ms = 1;
  if (timeout_ms > 5000) timeout_ms = 5000;
  if (naddr > ADDR_MAX) naddr = ADDR_MAX;

  /* Last-resort bound: SIGALRM's default action terminates the process. */
  alarm((unsigned)duration + 10);

  int ep = epoll_create1(0);
  if (ep < 0) { perror("epoll_create1"); return 1; }
  int fds[MAX_SOCKETS];
  struct sockaddr_in dst = {0};
  dst.sin_family = AF_INET;
  dst.sin_port = htons((uint16_t)port);
  dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* 127.0.0.1, never anything else */
  for (int i = 0; i < nsock; i++) {
    fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fds[i] < 0) { perror("socket"); return 1; }
    struct sockaddr_in src = {0};
    src.sin_family = AF_INET;
    if (naddr) {
      /* Replies come back to 127.x.y.z: bound to any address, but on loopback only. */
      if (setsockopt(fds[i], SOL_SOCKET, SO_BINDTODEVICE, "lo", 3) < 0) { perror("SO_BINDTODEVICE lo (needs root)"); return 1; }
      int on = 1;
      if (setsockopt(fds[i], IPPROTO_IP, IP_PKTINFO, &on, sizeof on) < 0) { perror("IP_PKTINFO"); return 1; }
      src.sin_addr.s_addr = htonl(INADDR_ANY);
      if (bind(fds[i], (struct sockaddr *)&src, sizeof src) < 0) { perror("bind"); return 1; }
    } else {
      src.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (bind(fds[i], (struct sockaddr *)&src, sizeof src) < 0) { perror("bind"); return 1; }
      if (connect(fds[i], (struct sockaddr *)&dst, sizeof dst) < 0) { perror("connect"); return 1; }
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0) { perror("epoll_ctl"); return 1; }
  }

  /* Realtime = monotonic + delta (the host clock is not stepped during a run). */
  int64_t m0 = now_mono(), r0 = now_real(), m1 = now_mono();
  int64_t real_minus_mono = r0 - (m0 + m1) / 2;
  int64_t ref_unix_s = r0 / 1000000000LL;
  uint32_t xmt_sec = (uint32_t)(ref_unix_s + NTP_UNIX_DELTA);

  /* Send buffers: one 48-byte request per batch entry, only the transmit timestamp varies. */
  static uint8_t sbuf[BATCH][48];
  static struct iovec siov[BATCH];
  static struct mmsghdr smsg[BATCH];
  for (int i = 0; i < BATCH; i++) {
    memset(sbuf[i], 0, 48);
    sbuf[i][0] = (0 << 6) | (4 << 3) | 3; /* LI 0, VN 4, mode 3 */
    sbuf[i][2] = 6;                        /* poll 2^6 */
    sbuf[i][3] = (uint8_t)(int8_t)-20;     /* precision ~1 us */
    wr32(sbuf[i] + 40, xmt_sec);
    siov[i].iov_base = sbuf[i];
    siov[i].iov_len = 48;
    memset(&smsg[i], 0, sizeof smsg[i]);
    smsg[i].msg_hdr.msg_iov = &siov[i];
    smsg[i].msg_hdr.msg_iovlen = 1;
  }
  /* --addresses: every message names the server and carries its own source address. */
  static char scmsg[BATCH][CMSG_SPACE(sizeof(struct in_pktinfo))];
  static char rcmsg[BATCH][CMSG_SPACE(sizeof(struct in_pktinfo))];
  if (naddr) {
    for (int i = 0; i < BATCH; i++) {
      smsg[i].msg_hdr.msg_name = &dst;
      smsg[i].msg_hdr.msg_namelen = sizeof dst;
      smsg[i].msg_hdr.msg_control = scmsg[i];
      smsg[i].msg_hdr.msg_controllen = sizeof scmsg[i];
      struct cmsghdr *c = CMSG_FIRSTHDR(&smsg[i].msg_hdr);
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
    }
  }
  uint32_t next_addr = 0;
  static uint8_t rbuf[BATCH][128];
  static struct iovec riov[BATCH];
  static struct mmsghdr rmsg[BATCH];
  for (int i = 0; i < BATCH; i++) {
    riov[i].iov_base = rbuf[i];
    riov[i].iov_len = sizeof rbuf[i];
    memset(&rmsg[i], 0, sizeof rmsg[i]);
    rmsg[i].msg_hdr.msg_iov = &riov[i];
    rmsg[i].msg_hdr.msg_iovlen = 1;
  }

  char server_sched[64];
  snprintf(server_sched, sizeof server_sched, "/proc/%d/schedstat", server_pid);
  long long cpu0 = server_pid > 0 ? read_proc_cpu_ticks(server_pid) : -1;
  long long swait0 = server_pid > 0 ? read_runq_wait_ns(server_sched) : -1;
  long long lwait0 = read_runq_wait_ns("/proc/self/schedstat");
  struct rusage ru0;
  getrusage(RUSAGE_SELF, &ru0);

  uint32_t next_seq = 1;        /* seq of the next request */
  uint32_t oldest = 1;          /* lowest seq that may still be outstanding */
  uint64_t outstanding = 0;
  int rr = 0;
  const int64_t timeout_ns = (int64_t)timeout_ms * 1000000LL;
  const int64_t t_start = now_mono();
  const int64_t t_end = t_start + (int64_t)(duration * 1e9);
  const int64_t t_hard = t_start + (int64_t)((HARD_MAX_DURATION_S + 1.0) * 1e9);
  int64_t t_stop_send = 0;
  int64_t t_now = t_start;
  struct epoll_event evs[MAX_SOCKETS];

  for (;;) {
    t_now = now_mono();
    int sending = t_now < t_end && st.sent < max_req;
    if (!sending && t_stop_send == 0) t_stop_send = t_now;
    if (!sending && (outstanding == 0 || t_now - t_stop_send > DRAIN_NS)) break;
    if (t_now > t_hard) break;

    /* Expire requests that never got a reply (frees window space). */
    while (oldest != next_seq) {
      slot_t *s = &ring[oldest & RING_MASK];
      if (s->active && s->seq == oldest) {
        int force = (uint32_t)(next_seq - oldest) >= RING_SIZE - BATCH;
        if (!force && t_now - s->sent_ns < timeout_ns) break;
        s->active = 0;
        outstanding--;
        st.lost++;
      }
      oldest++;
    }

    /* Send. */
    if (sending) {
      uint64_t want;
      uint64_t room = outstanding < (uint64_t)window ? (uint64_t)window - outstanding : 0;
      if (rate > 0) {
        /* schedule: rate * elapsed requests due; those that find the window full are skipped, not retried */
        uint64_t due = (uint64_t)(rate * (double)(t_now - t_start) / 1e9) + 1;
        uint64_t scheduled = st.sent + st.window_full;
        want = due > scheduled ? due - scheduled : 0;
        if (want > room) { st.window_full += want - room; want = room; }
      } else {
        want = room;
      }
      if (want > max_req - st.sent) want = max_req - st.sent;
      while (want > 0) {
        int n = want > BATCH ? BATCH : (int)want;
        int sock = rr;
        rr = (rr + 1) % nsock;
        for (int i = 0; i < n; i++) wr32(sbuf[i] + 44, next_seq + (uint32_t)i);
        uint32_t first_addr = next_addr;
        if (naddr) {
          for (int i = 0; i < n; i++) {
            struct in_pktinfo pi = {0};
            pi.ipi_spec_dst.s_addr = htonl(ADDR_BASE + (first_addr + (uint32_t)i) % naddr);
            memcpy(CMSG_DATA(CMSG_FIRSTHDR(&smsg[i].msg_hdr)), &pi, sizeof pi);
          }
        }
        int64_t ts = now_mono();
        int k = sendmmsg(fds[sock], smsg, (unsigned)n, 0);
        if (k < 0) { st.send_err++; break; }
        for (int i = 0; i < k; i++) {
          uint32_t seq = next_seq + (uint32_t)i;
          slot_t *s = &ring[seq & RING_MASK];
          if (s->active) { st.lost++; outstanding--; } /* only if forced wrap */
          s->sent_ns = ts;
          s->seq = seq;
          s->sock = (uint16_t)sock;
          s->src = naddr ? ADDR_BASE + (first_addr + (uint32_t)i) % naddr : 0;
          s->active = 1;
        }
        if (naddr) next_addr = (first_addr + (uint32_t)k) % naddr;
        next_seq += (uint32_t)k;
        outstanding += (uint64_t)k;
        st.sent += (uint64_t)k;
        want -= (uint64_t)k;
        if (k < n) { st.send_err += (uint64_t)(n - k); break; }
      }
    }

    /* Wait for replies. */
    struct timespec to = {0, 0};
    if (rate > 0 && sending) {
      int64_t next_due = t_start + (int64_t)(((double)(st.sent + st.window_full) / rate) * 1e9);
      int64_t d = next_due - now_mono();
      if (d > 1000000) d = 1000000;
      if (d < 0) d = 0;
      to.tv_nsec = d;
    } else {
      to.tv_nsec = 10000000; /* 10 ms: re-check deadlines */
    }
    int ne = epoll_pwait2(ep, evs, nsock, &to, NULL);
    if (ne < 0) {
      if (errno == EINTR) continue;
      perror("epoll_pwait2");
      break;
    }
    for (int e = 0; e < ne; e++) {
      int sock = (int)evs[e].data.u32;
      for (;;) {
        if (naddr) {
          for (int i = 0; i < BATCH; i++) {
            rmsg[i].msg_hdr.msg_control = rcmsg[i];
            rmsg[i].msg_hdr.msg_controllen = sizeof rcmsg[i];
          }
        }
        int k = recvmmsg(fds[sock], rmsg, BATCH, MSG_DONTWAIT, NULL);
        if (k < 0) {
          if (errno != EAGAIN && errno != EWOULDBLOCK) st.recv_err++;
          break;
        }
        int64_t tr = now_mono();
        for (int i = 0; i < k; i++) {
          const uint8_t *p = rbuf[i];
          unsigned len = rmsg[i].msg_len;
          st.replies++;
          if (len < 48) { st.short_len++; continue; }
          if (!have_first) { memcpy(first_reply, p, 48); have_first = 1; }
          int li = p[0] >> 6, vn = (p[0] >> 3) & 7, mode = p[0] & 7;
          if (mode != 4) st.bad_mode++;
          if (vn != 4) st.bad_version++;
          uint32_t osec = rd32(p + 24), ofrac = rd32(p + 28);
          slot_t *s = &ring[ofrac & RING_MASK];
          /* seq starts at 1 and never wraps (max requests < 2^32) */
          if (osec != xmt_sec || ofrac == 0 || ofrac >= next_seq) { st.wrong_origin++; continue; }
          if (s->seq != ofrac || !s->active) { st.late_or_dup++; continue; } /* expired or duplicate */
          if (s->sock != sock) { st.wrong_origin++; continue; }
          if (naddr) {
            /* The reply must be addressed to the very address its request came from. */
            uint32_t to = 0;
            for (struct cmsghdr *c = CMSG_FIRSTHDR(&rmsg[i].msg_hdr); c; c = CMSG_NXTHDR(&rmsg[i].msg_hdr, c)) {
              if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
                struct in_pktinfo pi;
                memcpy(&pi, CMSG_DATA(c), sizeof pi);
                to = ntohl(pi.ipi_addr.s_addr);
              }
            }
            st.addr_checked++;
            if (to != s->src) st.addr_mismatch++;
          }
          s->active = 0;
          outstanding--;
          if (p[1] == 0) { st.kod++; continue; }
          if (li == 3) st.leap_unsync++;
          st.matched++;
          int64_t lat = tr - s->sent_ns;
          hist_add(&lat_hist, lat);
          if (rd32(p + 40) == 0 && rd32(p + 44) == 0) { st.zero_tx++; continue; }
          if (p[1] != 0) {
            int64_t t1 = s->sent_ns + real_minus_mono, t4 = tr + real_minus_mono;
            int64_t t2 = ntp_to_unix_ns(p + 32, ref_unix_s), t3 = ntp_to_unix_ns(p + 40, ref_unix_s);
            if (t2 > t3) st.rx_after_tx++;
            else hist_add(&hold_hist, t3 - t2);
            int64_t off = ((t2 - t1) + (t3 - t4)) / 2;
            offset_sum_ns += (double)off;
            if (off > 0) offset_pos++;
            if (off < offset_min_ns) offset_min_ns = off;
            if (off > offset_max_ns) offset_max_ns = off;
            hist_add(&offset_hist, off < 0 ? -off : off);
          }
        }
        if (k < BATCH) break;
      }
    }
  }

  int64_t t_done = now_mono();
  long long cpu1 = server_pid > 0 ? read_proc_cpu_ticks(server_pid) : -1;
  long long swait1 = server_pid > 0 ? read_runq_wait_ns(server_sched) : -1;
  long long lwait1 = read_runq_wait_ns("/proc/self/schedstat");
  struct rusage ru1;
  getrusage(RUSAGE_SELF, &ru1);
  for (int i = 0; i < nsock; i++) close(fds[i]);
  close(ep);

  /* Anything still outstanding after the drain is lost. */
  st.lost += outstanding;

  double send_s = (double)((t_stop_send ? t_stop_send : t_done) - t_start) / 1e9;
  double hz = (double)sysconf(_SC_CLK_TCK);
  double lg_cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                  (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;

  printf("{\"label\":\"%s\",\"mode\":\"%s\",\"port\":%d,\"sockets\":%d,\"window\":%d,", label,
         rate > 0 ? "rate" : "closed", port, nsock, window);
  if (rate > 0) printf("\"rate_target\":%.0f,", rate);
  printf("\"duration_s\":%.3f,\"sent\":%llu,\"replies\":%llu,\"matched\":%llu,\"replies_per_s\":%.0f,", send_s,
         (unsigned long long)st.sent, (unsigned long long)st.replies, (unsigned long long)st.matched,
         send_s > 0 ? (double)st.matched / send_s : 0.0);
  printf("\"lost\":%llu,\"kod\":%llu,\"wrong_origin\":%llu,\"late_or_dup\":%llu,", (unsigned long long)st.lost,
         (unsigned long long)st.kod, (unsigned long long)st.wrong_origin, (unsigned long long)st.late_or_dup);
  printf("\"bad\":{\"short\":%llu,\"mode\":%llu,\"version\":%llu,\"leap_unsync\":%llu,\"zero_tx\":%llu,"
         "\"rx_after_tx\":%llu},",
         (unsigned long long)st.short_len, (unsigned long long)st.bad_mode, (unsigned long long)st.bad_version,
         (unsigned long long)st.leap_unsync, (unsigned long long)st.zero_tx, (unsigned long long)st.rx_after_tx);
  if (naddr)
    printf("\"addresses\":%u,\"reply_addr_checked\":%llu,\"reply_addr_mismatch\":%llu,", naddr,
           (unsigned long long)st.addr_checked, (unsigned long long)st.addr_mismatch);
  printf("\"send_err\":%llu,\"recv_err\":%llu,\"window_full_skips\":%llu,", (unsigned long long)st.send_err,
         (unsigned long long)st.recv_err, (unsigned long long)st.window_full);
  if (lat_hist.n)
    printf("\"latency_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f},",
           hist_pct(&lat_hist, 0.50) / 1e3, hist_pct(&lat_hist, 0.90) / 1e3, hist_pct(&lat_hist, 0.99) / 1e3,
           hist_pct(&lat_hist, 0.999) / 1e3, lat_hist.max / 1e3);
  else
    printf("\"latency_us\":{\"p50\":null,\"p90\":null,\"p99\":null,\"p999\":null,\"max\":null},");
  if (offset_hist.n)
    printf("\"offset_us\":{\"abs_p50\":%.1f,\"abs_p99\":%.1f,\"mean\":%.1f,\"positive_fraction\":%.3f,"
           "\"min\":%.1f,\"max\":%.1f},",
           hist_pct(&offset_hist, 0.5) / 1e3, hist_pct(&offset_hist, 0.99) / 1e3,
           offset_sum_ns / (double)offset_hist.n / 1e3, (double)offset_pos / (double)offset_hist.n,
           offset_min_ns / 1e3, offset_max_ns / 1e3);
  if (hold_hist.n)
    printf("\"server_hold_us\":{\"p50\":%.2f,\"p99\":%.2f,\"p999\":%.1f,\"max\":%.1f},",
           hist_pct(&hold_hist, 0.5) / 1e3, hist_pct(&hold_hist, 0.99) / 1e3, hist_pct(&hold_hist, 0.999) / 1e3,
           hold_hist.max / 1e3);
  if (have_first) {
    const uint8_t *p = first_reply;
    char refid[16];
    uint32_t r = rd32(p + 12);
    if (p[1] <= 1) {
      int j = 0;
      for (int i = 0; i < 4; i++) refid[j++] = (p[12 + i] >= 32 && p[12 + i] < 127 && p[12 + i] != '"' && p[12 + i] != '\\') ? (char)p[12 + i] : '.';
      refid[j] = 0;
    } else {
      snprintf(refid, sizeof refid, "%u.%u.%u.%u", r >> 24, (r >> 16) & 255, (r >> 8) & 255, r & 255);
    }
    printf("\"first_reply\":{\"li\":%d,\"vn\":%d,\"mode\":%d,\"stratum\":%d,\"poll\":%d,\"precision\":%d,"
           "\"root_delay_us\":%.1f,\"root_disp_us\":%.1f,\"refid\":\"%s\",\"reftime_age_s\":%.3f},",
           p[0] >> 6, (p[0] >> 3) & 7, p[0] & 7, p[1], (int8_t)p[2], (int8_t)p[3], rd32(p + 4) * (1e6 / 65536.0),
           rd32(p + 8) * (1e6 / 65536.0), refid,
           (rd32(p + 16) | rd32(p + 20))
               ? (double)(r0 - ntp_to_unix_ns(p + 16, ref_unix_s)) / 1e9
               : -1.0);
  }
  double wall_s = (double)(t_done - t_start) / 1e9;
  printf("\"loadgen_cpu_s\":%.3f", lg_cpu);
  /* Time the load generator / the server's main thread were runnable but another task had the CPU:
     the direct measure of interference from other processes on the machine. */
  if (lwait0 >= 0 && lwait1 >= 0) printf(",\"loadgen_runq_wait_pct\":%.2f", 100.0 * (double)(lwait1 - lwait0) / 1e9 / wall_s);
  if (swait0 >= 0 && swait1 >= 0) printf(",\"server_runq_wait_pct\":%.2f", 100.0 * (double)(swait1 - swait0) / 1e9 / wall_s);
  if (cpu0 >= 0 && cpu1 >= 0) {
    double scpu = (double)(cpu1 - cpu0) / hz;
    printf(",\"server_pid\":%d,\"server_cpu_s\":%.3f,\"server_cpu_pct\":%.1f,\"server_cpu_us_per_reply\":%.3f",
           server_pid, scpu, send_s > 0 ? 100.0 * scpu / ((double)(t_done - t_start) / 1e9) : 0.0,
           st.matched ? scpu * 1e6 / (double)st.matched : -1.0);
  }
  printf("}\n");
  return 0;
}
