/* test_sockdiag.c: sockdiag.c's pure query, request and reply parser on crafted bytes, and real
 * lookups of loopback TCP and UDP sockets that a child running as uid 4242 holds. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sockdiag.h"
#include "unit.h"

#define N_ROWS(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define OTHER_UID 4242
#define OTHER_GID 4343

static const struct sockdiag_query tcp4 = {
        .family = AF_INET, .protocol = IPPROTO_TCP,
        .src = { 127, 0, 0, 1 }, .dst = { 127, 0, 0, 2 }, .sport = 40522, .dport = 8080,
};
static const struct sockdiag_query tcp6 = {
        .family = AF_INET6, .protocol = IPPROTO_TCP,
        .src = { [15] = 1 }, .dst = { 0xfe, 0x80, [15] = 7 }, .sport = 50000, .dport = 443,
};
static const struct sockdiag_query udp4 = {
        .family = AF_INET, .protocol = IPPROTO_UDP,
        .src = { 127, 0, 0, 1 }, .dst = { 127, 0, 0, 1 }, .sport = 5353, .dport = 9999,
};
/* A sender and a destination that differ, so a request with the two ends swapped shows. */
static const struct sockdiag_query udp4_apart = {
        .family = AF_INET, .protocol = IPPROTO_UDP,
        .src = { 127, 0, 0, 3 }, .dst = { 127, 0, 0, 1 }, .sport = 5353, .dport = 9999,
};

/* ---- sockdiag_query_peer ---- */

static struct sockaddr_storage sa4(const char *a, uint16_t port) {
        struct sockaddr_storage ss = {};
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        ck_assert_int_eq(inet_pton(AF_INET, a, &sin->sin_addr), 1);
        return ss;
}

static struct sockaddr_storage sa6(const char *a, uint16_t port) {
        struct sockaddr_storage ss = {};
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        ck_assert_int_eq(inet_pton(AF_INET6, a, &sin6->sin6_addr), 1);
        return ss;
}

static const struct query_row {
        const char *what;
        int protocol;
        char pfam, lfam; /* '4', '6' or 'u' (unix) */
        const char *peer, *local;
        int rc, family;
        uint8_t src[16], dst[16];
} query_rows[] = {
        { "ipv4 pair", IPPROTO_TCP, '4', '4', "127.0.0.1", "127.0.0.2", 0, AF_INET, { 127, 0, 0, 1 }, { 127, 0, 0, 2 } },
        { "ipv6 pair", IPPROTO_UDP, '6', '6', "::1", "fe80::7", 0, AF_INET6, { [15] = 1 }, { 0xfe, 0x80, [15] = 7 } },
        /* An IPv4 client of a dual-stack listener: both ends v4-mapped, asked as IPv4. */
        { "v4-mapped pair", IPPROTO_TCP, '6', '6', "::ffff:127.0.0.1", "::ffff:10.1.2.3", 0, AF_INET,
          { 127, 0, 0, 1 }, { 10, 1, 2, 3 } },
        /* An IPv4 sender on a dual-stack UDP socket, destination unknown: "::" is 0.0.0.0. */
        { "v4-mapped sender, wildcard local", IPPROTO_UDP, '6', '6', "::ffff:127.0.0.1", "::", 0, AF_INET,
          { 127, 0, 0, 1 }, {} },
        { "plain ipv4 peer, v4-mapped local", IPPROTO_TCP, '4', '6', "127.0.0.1", "::ffff:127.0.0.1", 0, AF_INET,
          { 127, 0, 0, 1 }, { 127, 0, 0, 1 } },
        { "ipv4 peer, ipv6 local", IPPROTO_TCP, '4', '6', "127.0.0.1", "::1", -EAFNOSUPPORT },
        { "ipv6 peer, ipv4 local", IPPROTO_TCP, '6', '4', "::1", "127.0.0.1", -EAFNOSUPPORT },
        { "unix peer", IPPROTO_TCP, 'u', '4', NULL, "127.0.0.1", -EAFNOSUPPORT },
        { "sctp", IPPROTO_SCTP, '4', '4', "127.0.0.1", "127.0.0.1", -EPROTONOSUPPORT },
};

static struct sockaddr_storage row_addr(char fam, const char *a, uint16_t port) {
        struct sockaddr_storage ss = { .ss_family = AF_UNIX };
        if (fam == '4')
                return sa4(a, port);
        if (fam == '6')
                return sa6(a, port);
        return ss;
}

START_TEST(query_table) {
        const struct query_row *row = &query_rows[_i];
        struct sockaddr_storage peer = row_addr(row->pfam, row->peer, 40000), local = row_addr(row->lfam, row->local, 80);
        struct sockdiag_query q, sentinel;
        int r;

        memset(&q, 0xa5, sizeof q);
        sentinel = q;
        r = sockdiag_query_peer(row->protocol, (struct sockaddr *)&peer, (struct sockaddr *)&local, &q);
        ROW_INT(row->what, r, row->rc);
        if (r < 0) {
                ck_assert_msg(memcmp(&q, &sentinel, sizeof q) == 0, "%s: ret written on failure", row->what);
                return;
        }
        ROW_INT(row->what, q.family, row->family);
        ROW_INT(row->what, q.protocol, row->protocol);
        ROW_INT(row->what, q.sport, 40000);
        ROW_INT(row->what, q.dport, 80);
        ck_assert_msg(memcmp(q.src, row->src, 16) == 0, "%s: src", row->what);
        ck_assert_msg(memcmp(q.dst, row->dst, 16) == 0, "%s: dst", row->what);
}
END_TEST

/* ---- sockdiag_build_request ---- */

static const struct sockdiag_query unix_query = { .family = AF_UNIX, .protocol = IPPROTO_TCP };
static const struct sockdiag_query sctp_query = { .family = AF_INET, .protocol = IPPROTO_SCTP };

static const struct build_row {
        const char *what;
        const struct sockdiag_query *q;
        size_t size;
        int rc;
} build_rows[] = {
        { "tcp ipv4", &tcp4, SOCKDIAG_REQUEST_SIZE, SOCKDIAG_REQUEST_SIZE },
        { "tcp ipv6", &tcp6, 256, SOCKDIAG_REQUEST_SIZE },
        { "udp ipv4", &udp4, SOCKDIAG_REQUEST_SIZE, SOCKDIAG_REQUEST_SIZE },
        { "udp ipv4, sender and destination apart", &udp4_apart, SOCKDIAG_REQUEST_SIZE, SOCKDIAG_REQUEST_SIZE },
        { "buffer one byte short", &tcp4, SOCKDIAG_REQUEST_SIZE - 1, -ENOBUFS },
        { "unix family", &unix_query, 256, -EINVAL },
        { "sctp", &sctp_query, 256, -EINVAL },
};

START_TEST(build_table) {
        const struct build_row *row = &build_rows[_i];
        uint8_t buf[256];
        struct nlmsghdr h;
        struct inet_diag_req_v2 req;
        const struct sockdiag_query *q = row->q;
        size_t n = q->family == AF_INET ? 4 : 16;
        bool udp = q->protocol == IPPROTO_UDP;
        int r;

        memset(buf, 0xa5, sizeof buf);
        r = sockdiag_build_request(q, 0x01020304, buf, row->size);
        ROW_INT(row->what, r, row->rc);
        if (r < 0) {
                for (size_t i = 0; i < sizeof buf; i++)
                        ck_assert_msg(buf[i] == 0xa5, "%s: wrote byte %zu on failure", row->what, i);
                return;
        }
        memcpy(&h, buf, sizeof h);
        memcpy(&req, buf + sizeof h, sizeof req);
        ROW_INT(row->what, h.nlmsg_len, SOCKDIAG_REQUEST_SIZE);
        ROW_INT(row->what, h.nlmsg_type, SOCK_DIAG_BY_FAMILY);
        ROW_INT(row->what, h.nlmsg_flags, NLM_F_REQUEST); /* not a dump */
        ROW_INT(row->what, h.nlmsg_seq, 0x01020304);
        ROW_INT(row->what, req.sdiag_family, q->family);
        ROW_INT(row->what, req.sdiag_protocol, q->protocol);
        ROW_INT(row->what, req.id.idiag_cookie[0], INET_DIAG_NOCOOKIE);
        ROW_INT(row->what, req.id.idiag_cookie[1], INET_DIAG_NOCOOKIE);
        ROW_INT(row->what, req.id.idiag_if, 0);
        /* TCP names the socket by its own end; UDP by the end a datagram would come from. */
        ROW_INT(row->what, ntohs(req.id.idiag_sport), udp ? q->dport : q->sport);
        ROW_INT(row->what, ntohs(req.id.idiag_dport), udp ? q->sport : q->dport);
        ck_assert_msg(memcmp(req.id.idiag_src, udp ? q->dst : q->src, n) == 0, "%s: idiag_src", row->what);
        ck_assert_msg(memcmp(req.id.idiag_dst, udp ? q->src : q->dst, n) == 0, "%s: idiag_dst", row->what);
        ck_assert_msg(n == 16 || (req.id.idiag_src[1] == 0 && req.id.idiag_dst[3] == 0), "%s: IPv4 padding", row->what);
}
END_TEST

/* ---- sockdiag_parse_reply on crafted replies ---- */

#define SEQ 77

struct crafted {
        _Alignas(struct nlmsghdr) uint8_t buf[1024];
        size_t len;
};

/* Appends one message; nlmsg_len says plen + extra (extra < 0: claims less than it holds). */
static void put(struct crafted *c, uint16_t type, uint32_t seq, const void *payload, size_t plen, long extra) {
        struct nlmsghdr h = { .nlmsg_len = (uint32_t)((long)(sizeof h + plen) + extra), .nlmsg_type = type, .nlmsg_seq = seq };

        memcpy(c->buf + c->len, &h, sizeof h);
        memcpy(c->buf + c->len + sizeof h, payload, plen);
        c->len += NLMSG_ALIGN(sizeof h + plen);
}

/* What the kernel answers for q's socket: its own end in src, ours in dst. */
static struct inet_diag_msg answer(const struct sockdiag_query *q, uint32_t uid, uint32_t inode) {
        struct inet_diag_msg m = { .idiag_family = (uint8_t)q->family, .idiag_state = 1, .idiag_uid = uid, .idiag_inode = inode };

        m.id.idiag_sport = htons(q->sport);
        m.id.idiag_dport = htons(q->dport);
        memcpy(m.id.idiag_src, q->src, q->family == AF_INET ? 4 : 16);
        memcpy(m.id.idiag_dst, q->dst, q->family == AF_INET ? 4 : 16);
        return m;
}

static void put_answer(struct crafted *c, const struct inet_diag_msg *m) {
        put(c, SOCK_DIAG_BY_FAMILY, SEQ, m, sizeof *m, 0);
}

static void put_error(struct crafted *c, int err, size_t plen) {
        struct nlmsgerr e = { .error = err };
        put(c, NLMSG_ERROR, SEQ, &e, plen, 0);
}

static void good(struct crafted *c) {
        struct inet_diag_msg m = answer(&tcp4, OTHER_UID, 777);
        put_answer(c, &m);
}

/* As the kernel sends it: attributes after the message (INET_DIAG_SHUTDOWN, ...). */
static void good_with_attributes(struct crafted *c) {
        uint8_t payload[sizeof(struct inet_diag_msg) + 8] = {};
        struct inet_diag_msg m = answer(&tcp4, OTHER_UID, 777);
        struct nlattr shutdown = { .nla_len = 5, .nla_type = INET_DIAG_SHUTDOWN };

        memcpy(payload, &m, sizeof m);
        memcpy(payload + sizeof m, &shutdown, sizeof shutdown);
        put(c, SOCK_DIAG_BY_FAMILY, SEQ, payload, sizeof payload, 0);
}

static void empty(struct crafted *c) { (void)c; }
static void short_header(struct crafted *c) { good(c); c->len = 10; }
static void short_answer(struct crafted *c) {
        struct inet_diag_msg m = answer(&tcp4, OTHER_UID, 777);
        put(c, SOCK_DIAG_BY_FAMILY, SEQ, &m, 40, 0);
}
static void truncated(struct crafted *c) { good(c); c->len -= 8; }
static void len_below_header(struct crafted *c) { struct inet_diag_msg m = answer(&tcp4, 1, 1); put(c, SOCK_DIAG_BY_FAMILY, SEQ, &m, sizeof m, -(long)sizeof m - 4); }
static void enoent(struct crafted *c) { put_error(c, -ENOENT, sizeof(struct nlmsgerr)); }
static void eperm(struct crafted *c) { put_error(c, -EPERM, sizeof(struct nlmsgerr)); }
static void ack(struct crafted *c) { put_error(c, 0, sizeof(struct nlmsgerr)); }
static void positive_error(struct crafted *c) { put_error(c, 5, sizeof(struct nlmsgerr)); }
static void short_error(struct crafted *c) { put_error(c, -ENOENT, sizeof(int)); }
static void kernel_estale(struct crafted *c) { put_error(c, -ESTALE, sizeof(struct nlmsgerr)); }
static void wrong_seq(struct crafted *c) {
        struct inet_diag_msg m = answer(&tcp4, OTHER_UID, 777);
        put(c, SOCK_DIAG_BY_FAMILY, SEQ - 1, &m, sizeof m, 0);
}
static void stale_then_ours(struct crafted *c) {
        struct inet_diag_msg old = answer(&tcp4, 0, 555);
        put(c, SOCK_DIAG_BY_FAMILY, SEQ - 1, &old, sizeof old, 0);
        good(c);
}
static void stale_then_garbage(struct crafted *c) { wrong_seq(c); c->buf[c->len++] = 1; }
static void time_wait(struct crafted *c) {
        struct inet_diag_msg m = answer(&tcp4, 0, 0);
        m.idiag_state = 6; /* TCP_TIME_WAIT: the kernel writes uid 0 and inode 0 */
        put_answer(c, &m);
}
static void orphaned(struct crafted *c) { struct inet_diag_msg m = answer(&tcp4, OTHER_UID, 0); put_answer(c, &m); }
static void listener(struct crafted *c) {
        struct inet_diag_msg m = answer(&tcp4, OTHER_UID, 888);
        m.idiag_state = 10; /* TCP_LISTEN: inet_lookup's fallback, not the peer */
        m.id.idiag_dport = 0;
        memset(m.id.idiag_dst, 0, sizeof m.id.idiag_dst);
        put_answer(c, &m);
}
static void other_port(struct crafted *c) {
        struct inet_diag_msg m = answer(&tcp4, OTHER_UID, 777);
        m.id.idiag_sport = htons(tcp4.sport + 1);
        put_answer(c, &m);
}
static void other_addr(struct crafted *c) {
        struct inet_diag_msg m = answer(&tcp4, OTHER_UID, 777);
        ((uint8_t *)m.id.idiag_src)[3] = 9;
        put_answer(c, &m);
}
/* Our end is another address: a socket connected elsewhere, from the peer's address and port. */
static void other_far_addr(struct crafted *c) {
        struct inet_diag_msg m = answer(&tcp4, OTHER_UID, 777);
        ((uint8_t *)m.id.idiag_dst)[3] = 9;
        put_answer(c, &m);
}
/* A dual-stack client found by its IPv4 addresses reports them v4-mapped. */
static void dual_stack(struct crafted *c) {
        struct inet_diag_msg m = answer(&tcp4, OTHER_UID, 777);
        uint8_t src[16] = { [10] = 0xff, [11] = 0xff, 127, 0, 0, 1 }, dst[16] = { [10] = 0xff, [11] = 0xff, 127, 0, 0, 2 };
        m.idiag_family = AF_INET6;
        memcpy(m.id.idiag_src, src, 16);
        memcpy(m.id.idiag_dst, dst, 16);
        put_answer(c, &m);
}
static void done_type(struct crafted *c) { int z = 0; put(c, NLMSG_DONE, SEQ, &z, sizeof z, 0); }
static void bad_family(struct crafted *c) {
        struct inet_diag_msg m = answer(&tcp4, OTHER_UID, 777);
        m.idiag_family = AF_UNIX;
        put_answer(c, &m);
}

static const struct parse_row {
        const char *what;
        const struct sockdiag_query *q;
        void (*make)(struct crafted *c);
        int rc;
        uint32_t uid, inode;
} parse_rows[] = {
        { "good", &tcp4, good, 0, OTHER_UID, 777 },
        { "good, attributes after it", &tcp4, good_with_attributes, 0, OTHER_UID, 777 },
        { "empty", &tcp4, empty, -EBADMSG },
        { "shorter than a header", &tcp4, short_header, -EBADMSG },
        { "answer shorter than inet_diag_msg", &tcp4, short_answer, -EBADMSG },
        { "truncated: nlmsg_len past the end", &tcp4, truncated, -EBADMSG },
        { "nlmsg_len below a header", &tcp4, len_below_header, -EBADMSG },
        { "NLMSG_ERROR -ENOENT", &tcp4, enoent, -ENOENT },
        { "NLMSG_ERROR -EPERM", &tcp4, eperm, -EPERM },
        { "NLMSG_ERROR 0 (an ack)", &tcp4, ack, -EBADMSG },
        { "NLMSG_ERROR positive", &tcp4, positive_error, -EBADMSG },
        { "NLMSG_ERROR without its header", &tcp4, short_error, -EBADMSG },
        { "NLMSG_ERROR -ESTALE from the kernel", &tcp4, kernel_estale, -EPROTO },
        { "wrong sequence number", &tcp4, wrong_seq, -ESTALE },
        { "a stale answer, then ours", &tcp4, stale_then_ours, 0, OTHER_UID, 777 },
        { "a stale answer, then a stray byte", &tcp4, stale_then_garbage, -EBADMSG },
        { "TIME_WAIT: uid 0 is nobody", &tcp4, time_wait, -EOWNERDEAD },
        { "orphaned: closed by its owner", &tcp4, orphaned, -EOWNERDEAD },
        { "a listener on that port", &tcp4, listener, -ENOENT },
        { "another port", &tcp4, other_port, -ENOENT },
        { "another address", &tcp4, other_addr, -ENOENT },
        { "another far end", &tcp4, other_far_addr, -ENOENT },
        { "dual-stack socket, v4-mapped", &tcp4, dual_stack, 0, OTHER_UID, 777 },
        { "NLMSG_DONE", &tcp4, done_type, -EBADMSG },
        { "family AF_UNIX", &tcp4, bad_family, -EBADMSG },
};

START_TEST(parse_table) {
        const struct parse_row *row = &parse_rows[_i];
        struct crafted c = {};
        struct sockdiag_owner o, sentinel;
        int r;

        row->make(&c);
        memset(&o, 0xa5, sizeof o);
        sentinel = o;
        r = sockdiag_parse_reply(c.buf, c.len, row->q, SEQ, &o);
        ROW_INT(row->what, r, row->rc);
        if (r < 0) {
                ck_assert_msg(memcmp(&o, &sentinel, sizeof o) == 0, "%s: ret written on failure", row->what);
                return;
        }
        ROW_INT(row->what, o.uid, row->uid);
        ROW_INT(row->what, o.inode, row->inode);
}
END_TEST

/* UDP: the wanted socket may be bound to a wildcard and unconnected; its port must match. */
START_TEST(parse_udp) {
        struct inet_diag_msg m = answer(&udp4, OTHER_UID, 99);
        struct sockdiag_owner o;
        struct crafted c = {};

        memset(m.id.idiag_src, 0, sizeof m.id.idiag_src);
        memset(m.id.idiag_dst, 0, sizeof m.id.idiag_dst);
        m.id.idiag_dport = 0;
        m.idiag_state = 7;
        put_answer(&c, &m);
        ck_assert_int_eq(sockdiag_parse_reply(c.buf, c.len, &udp4, SEQ, &o), 0);
        ck_assert_int_eq(o.uid, OTHER_UID);
        /* connected elsewhere: not the sender of a datagram to us */
        c = (struct crafted){};
        m.id.idiag_dport = htons(1);
        put_answer(&c, &m);
        ck_assert_int_eq(sockdiag_parse_reply(c.buf, c.len, &udp4, SEQ, &o), -ENOENT);
        /* another port */
        c = (struct crafted){};
        m.id.idiag_dport = 0;
        m.id.idiag_sport = htons(udp4.sport + 1);
        put_answer(&c, &m);
        ck_assert_int_eq(sockdiag_parse_reply(c.buf, c.len, &udp4, SEQ, &o), -ENOENT);
        /* an invalid query is refused before the bytes are read */
        ck_assert_int_eq(sockdiag_parse_reply(c.buf, c.len, &(struct sockdiag_query){ .family = AF_UNIX }, SEQ, &o),
                         -EINVAL);
}
END_TEST

/* ---- real lookups: a child as OTHER_UID holds the other end ---- */


/* A child that, as OTHER_UID, makes a socket of type toward addr (connects a stream, sends
 * one datagram), says so on ctl, and keeps the socket until the parent writes to ctl: then it
 * closes it, says so again, and waits for a last byte (or EOF) before exiting. */

struct peer_plan {
        int type;
        const struct sockaddr_storage *to;
        socklen_t len;
};

static void peer_child(int ctl, const void *arg) {
        const struct peer_plan *p = arg;
        int s;

        unit_become(OTHER_UID, OTHER_GID);
        s = socket(p->to->ss_family, p->type | SOCK_CLOEXEC, 0);
        if (s < 0 || (p->type == SOCK_STREAM ? connect(s, (const struct sockaddr *)p->to, p->len)
                                             : (int)sendto(s, "x", 1, 0, (const struct sockaddr *)p->to, p->len)) < 0)
                _exit(92);
        unit_child_say(ctl, 'r');
        if (!unit_child_hear(ctl))
                _exit(93);
        close(s);
        unit_child_say(ctl, 'c');
        (void)unit_child_hear(ctl);
}

static struct unit_child start_child(int type, const struct sockaddr_storage *to, socklen_t len) {
        const struct peer_plan plan = { type, to, len };

        /* The child reads plan before unit_child_spawn() returns: fork copies it. */
        return unit_child_spawn(peer_child, &plan);
}

static void child_step(struct unit_child *c, char want) {
        char b = 0;

        ck_assert_int_eq(write(c->ctl, "g", 1), 1);
        ck_assert_int_eq(read(c->ctl, &b, 1), 1);
        ck_assert_int_eq(b, want);
}

/* A listener (or a bound UDP socket) on loopback of family; dual: "::", not v6-only. */
static int inet_socket(int family, int type, bool dual) {
        struct sockaddr_in6 any6 = { .sin6_family = AF_INET6 };
        int fd, zero = 0;

        if (!dual)
                return unit_inet_listener(family, type);
        fd = socket(AF_INET6, type | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero), 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&any6, sizeof any6), 0);
        if (type == SOCK_STREAM)
                ck_assert_int_eq(listen(fd, 16), 0);
        return fd;
}

/* Where a client reaches fd: its address, or for a dual-stack socket 127.0.0.1 and its port. */
static socklen_t target(int fd, bool dual, struct sockaddr_storage *ss) {
        socklen_t len = unit_sockname(fd, ss);

        if (dual) {
                uint16_t port = ((struct sockaddr_in6 *)ss)->sin6_port;
                *ss = sa4("127.0.0.1", 0);
                ((struct sockaddr_in *)ss)->sin_port = port;
                len = sizeof(struct sockaddr_in);
        }
        return len;
}

static const struct real_row {
        const char *what;
        int family, type;
        bool dual;
} real_rows[] = {
        { "tcp ipv4", AF_INET, SOCK_STREAM, false },
        { "tcp ipv6", AF_INET6, SOCK_STREAM, false },
        { "tcp ipv4 client, dual-stack listener", AF_INET6, SOCK_STREAM, true },
        { "udp ipv4", AF_INET, SOCK_DGRAM, false },
        { "udp ipv6", AF_INET6, SOCK_DGRAM, false },
        { "udp ipv4 sender, dual-stack socket", AF_INET6, SOCK_DGRAM, true },
};

/* The query for the other end: accept()ed connection, or the sender of the datagram waiting. */
static int peer_query(int fd, int type, int *ret_conn, struct sockdiag_query *q) {
        struct sockaddr_storage local, peer;
        socklen_t plen = sizeof peer;
        char b;

        if (type == SOCK_STREAM) {
                *ret_conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
                ck_assert_int_ge(*ret_conn, 0);
                unit_sockname(*ret_conn, &local);
                ck_assert_int_eq(getpeername(*ret_conn, (struct sockaddr *)&peer, &plen), 0);
                return sockdiag_query_peer(IPPROTO_TCP, (struct sockaddr *)&peer, (struct sockaddr *)&local, q);
        }
        *ret_conn = -1;
        ck_assert_int_eq(recvfrom(fd, &b, 1, MSG_PEEK, (struct sockaddr *)&peer, &plen), 1);
        unit_sockname(fd, &local);
        if (local.ss_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&local)->sin6_addr))
                ((struct sockaddr_in6 *)&local)->sin6_addr = ((struct sockaddr_in6 *)&peer)->sin6_addr;
        return sockdiag_query_peer(IPPROTO_UDP, (struct sockaddr *)&peer, (struct sockaddr *)&local, q);
}

START_TEST(real_lookup) {
        const struct real_row *row = &real_rows[_i];
        struct sockaddr_storage to;
        struct sockdiag_query q, nobody;
        struct sockdiag_owner o = {};
        struct unit_child c;
        int fd, conn, r;

        ck_assert_msg(geteuid() == 0, "a child of another uid needs root (CI runs as root)");
        fd = inet_socket(row->family, row->type, row->dual);
        ck_assert_int_ge(fd, 0);
        c = start_child(row->type, &to, target(fd, row->dual, &to));
        unit_child_expect(&c, 'r');
        ck_assert_int_eq(peer_query(fd, row->type, &conn, &q), 0);
        ck_assert_int_eq(q.family, row->dual ? AF_INET : row->family);

        r = sockdiag_lookup(&q, &o);
        ck_assert_msg(r == 0, "%s: lookup: %s", row->what, strerror(-r));
        ck_assert_int_eq(o.uid, OTHER_UID);
        ck_assert_uint_ne(o.inode, 0);

        /* Negative: a port nobody has. */
        nobody = q;
        nobody.sport = 1;
        ck_assert_int_eq(sockdiag_lookup(&nobody, &o), -ENOENT);

        /* The child closes its socket: TCP keeps it (orphaned, then TIME_WAIT) without an
         * owner, which must not read as uid 0; UDP's is gone. */
        child_step(&c, 'c');
        r = sockdiag_lookup(&q, &o);
        ck_assert_msg(r == (row->type == SOCK_STREAM ? -EOWNERDEAD : -ENOENT), "%s: after close: %d", row->what, r);
        unit_child_finish(&c);
        if (conn >= 0)
                close(conn);
        close(fd);
}
END_TEST

/* ---- the shared netlink socket: threads, fork, close-on-exec ---- */

static int netlink_fd(void) {
        for (int fd = 0; fd < 1024; fd++) {
                int domain;
                socklen_t len = sizeof domain;
                if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain == AF_NETLINK)
                        return fd;
        }
        return -1;
}

struct hammer {
        const struct sockdiag_query *q;
        int ok, n;
};

static void *hammer_run(void *arg) {
        struct hammer *h = arg;
        for (int i = 0; i < h->n; i++) {
                struct sockdiag_owner o;
                if (sockdiag_lookup(h->q, &o) == 0 && o.uid == OTHER_UID)
                        h->ok++;
        }
        return NULL;
}

/* Held connection for the tests below: child as OTHER_UID, accepted fd, its query. */
struct held {
        int listener, conn;
        struct unit_child c;
        struct sockdiag_query q;
};

static void hold(struct held *h) {
        struct sockaddr_storage to;

        ck_assert_msg(geteuid() == 0, "a child of another uid needs root (CI runs as root)");
        h->listener = unit_inet_listener(AF_INET, SOCK_STREAM);
        ck_assert_int_ge(h->listener, 0);
        h->c = start_child(SOCK_STREAM, &to, unit_sockname(h->listener, &to));
        unit_child_expect(&h->c, 'r');
        ck_assert_int_eq(peer_query(h->listener, SOCK_STREAM, &h->conn, &h->q), 0);
}

static void release(struct held *h) {
        child_step(&h->c, 'c');
        unit_child_finish(&h->c);
        close(h->conn);
        close(h->listener);
}

/* Threads that come and go share one socket: nothing is left behind, every answer is theirs. */
START_TEST(threads) {
        struct held h;
        struct sockdiag_owner o;
        struct hammer hs[8];
        pthread_t t[8];
        int before, nl;

        hold(&h);
        ck_assert_int_eq(sockdiag_lookup(&h.q, &o), 0); /* opens the socket */
        before = unit_count_fds();
        nl = netlink_fd();
        ck_assert_int_ge(nl, 0);
        ck_assert_msg(unit_fd_cloexec(nl), "the netlink socket is not close-on-exec");
        for (int round = 0; round < 3; round++) {
                for (int i = 0; i < 8; i++) {
                        hs[i] = (struct hammer){ .q = &h.q, .n = 200 };
                        ck_assert_int_eq(pthread_create(&t[i], NULL, hammer_run, &hs[i]), 0);
                }
                for (int i = 0; i < 8; i++) {
                        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
                        ck_assert_int_eq(hs[i].ok, 200);
                }
        }
        ck_assert_int_eq(unit_count_fds(), before);
        release(&h);
}
END_TEST

/* A forked child must not read its parent's answers from an inherited socket: both look up at
 * once, and every answer arrives (a shared socket loses them to the other process). */
START_TEST(after_fork) {
        struct held h;
        struct sockdiag_owner o;
        struct hammer mine = { .n = 2000 };
        int status;
        pid_t pid;

        hold(&h);
        mine.q = &h.q;
        ck_assert_int_eq(sockdiag_lookup(&h.q, &o), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                struct hammer theirs = { .q = &h.q, .n = 2000 };
                hammer_run(&theirs);
                _exit(theirs.ok == theirs.n ? 0 : 1);
        }
        hammer_run(&mine);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the forked child's lookups failed");
        ck_assert_int_eq(mine.ok, mine.n);
        release(&h);
}
END_TEST

int main(void) {
        Suite *s = suite_create("sockdiag");
        TCase *pure = tcase_create("pure"), *real = tcase_create("real");

        tcase_add_loop_test(pure, query_table, 0, N_ROWS(query_rows));
        tcase_add_loop_test(pure, build_table, 0, N_ROWS(build_rows));
        tcase_add_loop_test(pure, parse_table, 0, N_ROWS(parse_rows));
        tcase_add_test(pure, parse_udp);
        suite_add_tcase(s, pure);
        tcase_add_loop_test(real, real_lookup, 0, N_ROWS(real_rows));
        tcase_add_test(real, threads);
        tcase_add_test(real, after_fork);
        tcase_set_timeout(real, 30);
        suite_add_tcase(s, real);
        return unit_run(s);
}
