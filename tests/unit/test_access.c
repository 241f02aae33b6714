/* test_access.c: the owner-only policy (access.c) with the fixture's real users
 * (tests/users.py), and the checks on real unix, TCP and UDP sockets whose other end a child
 * holds, as another user or as ours. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "access.h"
#include "unit.h"

#define N_ROWS(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define NO_USER_UID 4242 /* a uid with no passwd entry */
#define NO_USER_GID 4343

/* ---- the fixture's users ---- */

static struct ids {
        uid_t owner_uid, other_uid;
        gid_t owner_gid, other_gid, team_gid;
} ids;

static void load_ids(void) {
        struct passwd *owner = getpwnam("pylaunchd-owner"), *other;
        struct group *team;

        ck_assert_msg(owner, "no user pylaunchd-owner: run `tests/users.py create` (ctest fixture local_users)");
        ids.owner_uid = owner->pw_uid;
        ids.owner_gid = owner->pw_gid;
        other = getpwnam("pylaunchd-other");
        ck_assert_msg(other, "no user pylaunchd-other");
        ids.other_uid = other->pw_uid;
        ids.other_gid = other->pw_gid;
        team = getgrnam("pylaunchd-team");
        ck_assert_msg(team, "no group pylaunchd-team");
        ids.team_gid = team->gr_gid;
        /* What makes a uid/gid mix-up fail below. */
        ck_assert_uint_ne(ids.other_uid, ids.other_gid);
        ck_assert_uint_ne(ids.owner_uid, ids.owner_gid);
}

enum id { NONE, OWNER_UID, OWNER_GID, OTHER_UID, OTHER_GID, TEAM_GID, ROOT, NO_USER, NO_USER_G, MINUS1 };

static unsigned id_of(enum id id) {
        switch (id) {
        case OWNER_UID: return ids.owner_uid;
        case OWNER_GID: return ids.owner_gid;
        case OTHER_UID: return ids.other_uid;
        case OTHER_GID: return ids.other_gid;
        case TEAM_GID: return ids.team_gid;
        case ROOT: return 0;
        case NO_USER: return NO_USER_UID;
        case NO_USER_G: return NO_USER_GID;
        case MINUS1: return (unsigned)-1;
        case NONE: break;
        }
        ck_abort_msg("id %d", (int)id);
        return 0;
}

/* ---- access_allowed ---- */

static const struct allowed_row {
        const char *what;
        enum id owner, allow_uid, allow_gid;
        bool known;
        enum id uid, gid;
        bool want;
} allowed_rows[] = {
        { "the owner", OWNER_UID, NONE, NONE, true, OWNER_UID, OWNER_GID, true },
        { "another user", OWNER_UID, NONE, NONE, true, OTHER_UID, OTHER_GID, false },
        { "root is not the owner", OWNER_UID, NONE, NONE, true, ROOT, ROOT, false },
        { "another user in --allow-uid", OWNER_UID, OTHER_UID, NONE, true, OTHER_UID, OTHER_GID, true },
        { "--allow-uid holds the other's gid number", OWNER_UID, OTHER_GID, NONE, true, OTHER_UID, OTHER_GID, false },
        { "--allow-gid: the peer's own gid", OWNER_UID, NONE, OTHER_GID, true, OTHER_UID, OTHER_GID, true },
        { "--allow-gid: primary group from passwd (gid unknown)", OWNER_UID, NONE, OTHER_GID, true, OTHER_UID, MINUS1,
          true },
        { "--allow-gid: supplementary member", OWNER_UID, NONE, TEAM_GID, true, OTHER_UID, OTHER_GID, true },
        { "--allow-gid: supplementary member (gid unknown)", OWNER_UID, NONE, TEAM_GID, true, OTHER_UID, MINUS1, true },
        { "--allow-gid holds the other's uid number", OWNER_UID, NONE, OTHER_UID, true, OTHER_UID, OTHER_GID, false },
        { "--allow-gid: a user not in the group", ROOT, NONE, TEAM_GID, true, OWNER_UID, OWNER_GID, false },
        { "--allow-gid: the group of another user", OWNER_UID, NONE, OWNER_GID, true, OTHER_UID, OTHER_GID, false },
        { "a uid without a user: its process's gid", OWNER_UID, NONE, NO_USER_G, true, NO_USER, NO_USER_G, true },
        { "a uid without a user is in no group", OWNER_UID, NONE, TEAM_GID, true, NO_USER, NO_USER_G, false },
        { "an unknown peer, even with the owner's uid", OWNER_UID, NONE, NONE, false, OWNER_UID, OWNER_GID, false },
};

static bool allowed(const struct allowed_row *row) {
        uid_t au = row->allow_uid == NONE ? 0 : id_of(row->allow_uid);
        gid_t ag = row->allow_gid == NONE ? 0 : id_of(row->allow_gid);
        struct access_policy p = {
                .owner = id_of(row->owner),
                .allow_uid = &au, .n_allow_uid = row->allow_uid != NONE,
                .allow_gid = &ag, .n_allow_gid = row->allow_gid != NONE,
        };
        struct access_peer peer = { .known = row->known, .local = true, .uid = id_of(row->uid), .gid = id_of(row->gid) };

        return access_allowed(&p, &peer);
}

START_TEST(allowed_table) {
        const struct allowed_row *row = &allowed_rows[_i];

        load_ids();
        ROW_INT(row->what, allowed(row), row->want);
        ROW_INT(row->what, allowed(row), row->want); /* again: from the cache where it applies */
}
END_TEST

/* The group database is read only when the uid does not decide, once per uid for a while, and
 * the cache keeps a bounded number of users without getting anything wrong. */
START_TEST(group_cache) {
        gid_t team = 0, not_a_group = 0;
        struct access_policy p = { .n_allow_gid = 1 };
        struct access_peer other = { .known = true, .local = true, .gid = (gid_t)-1 };
        unsigned long before;

        load_ids();
        team = ids.team_gid;
        not_a_group = ids.other_uid;
        p.owner = ids.owner_uid;
        other.uid = ids.other_uid;

        before = access_group_lookups();
        p.allow_gid = NULL, p.n_allow_gid = 0;
        ck_assert(!access_allowed(&p, &other));
        p.owner = ids.other_uid;
        p.allow_gid = &team, p.n_allow_gid = 1;
        ck_assert(access_allowed(&p, &other));
        ck_assert_uint_eq(access_group_lookups(), before); /* neither needed the database */

        p.owner = ids.owner_uid;
        for (int i = 0; i < 1000; i++)
                ck_assert(access_allowed(&p, &other));
        ck_assert_uint_eq(access_group_lookups(), before + 1);
        /* the same cached groups, another policy */
        p.allow_gid = &not_a_group;
        ck_assert(!access_allowed(&p, &other));
        ck_assert_uint_eq(access_group_lookups(), before + 1);

        /* More users than the cache holds: each is read; the first was evicted. */
        for (uid_t u = 0; u < 64; u++) {
                struct access_peer stranger = { .known = true, .local = true, .uid = 7000000 + u, .gid = (gid_t)-1 };
                ck_assert(!access_allowed(&p, &stranger));
        }
        ck_assert_uint_eq(access_group_lookups(), before + 1 + 64);
        p.allow_gid = &team;
        ck_assert(access_allowed(&p, &other));
        ck_assert_uint_eq(access_group_lookups(), before + 1 + 64 + 1);
}
END_TEST

/* ---- children on the other end ---- */

/* What a connecting or sending child gets: the address, who to be, and whether to close its
 * socket before the test looks (a peer already gone). */
struct target {
        struct sockaddr_storage to;
        socklen_t len;
        int type;
        uid_t uid; /* (uid_t)-1: stay root, the test's own uid */
        gid_t gid;
        bool close_first;
        bool connect_as_root; /* connect first, then become uid (a path only root can reach) */
};

/* Connects (stream) or sends "o1" then "o2" when told (datagram); 'r' after each step; keeps the
 * socket until the test closes ctl. */
static void child_peer(int ctl, const void *arg) {
        const struct target *t = arg;
        int s;

        if (t->uid != (uid_t)-1 && !t->connect_as_root)
                unit_become(t->uid, t->gid);
        s = socket(t->to.ss_family, t->type | SOCK_CLOEXEC, 0);
        if (s < 0)
                _exit(92);
        if ((t->type != SOCK_DGRAM || t->connect_as_root) && connect(s, (const struct sockaddr *)&t->to, t->len) < 0)
                _exit(93);
        if (t->uid != (uid_t)-1 && t->connect_as_root)
                unit_become(t->uid, t->gid);
        if (t->type == SOCK_DGRAM) {
                static const char *const msgs[] = { "o1", "o2" };
                for (int i = 0; i < 2; i++) {
                        if (sendto(s, msgs[i], 2, 0, t->connect_as_root ? NULL : (const struct sockaddr *)&t->to,
                                   t->connect_as_root ? 0 : t->len) != 2)
                                _exit(94);
                        unit_child_say(ctl, 'r');
                        if (i == 0 && unit_child_hear(ctl) != 'g')
                                _exit(95);
                }
        } else
                unit_child_say(ctl, 'r');
        if (t->close_first) {
                close(s);
                unit_child_say(ctl, 'c');
        }
        (void)unit_child_hear(ctl);
        _exit(0);
}

static struct target target_for(int fd, int type, uid_t uid, gid_t gid) {
        struct target t = { .type = type, .uid = uid, .gid = gid };

        t.len = unit_sockname(fd, &t.to);
        return t;
}

static struct access_policy policy_of(uid_t owner) {
        return (struct access_policy){ .owner = owner };
}

/* ---- access_check_stream ---- */

static const struct stream_row {
        const char *what;
        int family;
} stream_rows[] = {
        { "unix (abstract)", AF_UNIX },
        { "tcp ipv4", AF_INET },
        { "tcp ipv6", AF_INET6 },
        { "tcp ipv4 client, dual-stack listener", 0 }, /* family 0: "::", not v6-only */
};

static int stream_listener(int family) {
        struct sockaddr_in6 any6 = { .sin6_family = AF_INET6 };
        int fd, zero = 0;

        if (family == AF_UNIX)
                return unit_unix_listener(SOCK_STREAM, NULL);
        if (family)
                return unit_inet_listener(family, SOCK_STREAM);
        fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero), 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&any6, sizeof any6), 0);
        ck_assert_int_eq(listen(fd, 16), 0);
        return fd;
}

static struct target stream_target(int l, int family, uid_t uid, gid_t gid) {
        struct target t = target_for(l, SOCK_STREAM, uid, gid);

        if (family == 0) { /* reach the dual-stack listener over IPv4 */
                uint16_t port = ((struct sockaddr_in6 *)&t.to)->sin6_port;
                struct sockaddr_in *sin = (struct sockaddr_in *)&t.to;
                memset(&t.to, 0, sizeof t.to);
                sin->sin_family = AF_INET;
                sin->sin_port = port;
                sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                t.len = sizeof *sin;
        }
        return t;
}

/* One connection from a child as uid (or ours); returns access_check_stream's answer. */
static int check_one(int l, int family, const struct access_policy *p, struct target t, struct access_peer *peer,
                     pid_t *ret_pid) {
        struct unit_child c = unit_child_spawn(child_peer, &t);
        int conn, r;

        unit_child_expect(&c, 'r');
        conn = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        ck_assert_int_ge(conn, 0);
        if (t.close_first) {
                unit_child_tell(&c);
                unit_child_expect(&c, 'c');
        }
        r = access_check_stream(p, conn, family ? family : AF_INET6, peer);
        *ret_pid = c.pid;
        close(conn);
        unit_child_finish(&c);
        return r;
}

START_TEST(stream_table) {
        const struct stream_row *row = &stream_rows[_i];
        struct access_policy p = policy_of(geteuid());
        gid_t team;
        struct access_peer peer;
        char text[160];
        pid_t pid;
        int l, r;

        ck_assert_msg(geteuid() == 0, "a child of another uid needs root (CI runs as root)");
        load_ids();
        team = ids.team_gid;
        l = stream_listener(row->family);
        ck_assert_int_ge(l, 0);

        /* Another user: refused, and named. */
        memset(&peer, 0, sizeof peer);
        r = check_one(l, row->family, &p, stream_target(l, row->family, ids.other_uid, ids.other_gid), &peer, &pid);
        ck_assert_msg(r == 0, "%s: another user: %d", row->what, r);
        ck_assert(peer.known && peer.local);
        ck_assert_uint_eq(peer.uid, ids.other_uid);
        if (row->family == AF_UNIX) {
                ck_assert_int_eq(peer.pid, pid);
                ck_assert_uint_eq(peer.gid, ids.other_gid);
                ck_assert_str_eq(peer.addr, "");
        } else {
                ck_assert_int_eq(peer.pid, 0);
                ck_assert_uint_eq(peer.gid, (gid_t)-1);
                ck_assert_msg(strncmp(peer.addr, row->family == AF_INET6 ? "[::1]:" : "127.0.0.1:", 6) == 0,
                              "%s: addr '%s'", row->what, peer.addr);
        }
        access_peer_describe(&peer, text, sizeof text);
        ck_assert_msg(strncmp(text, "uid ", 4) == 0, "%s: '%s'", row->what, text);

        /* Ours: allowed. */
        r = check_one(l, row->family, &p, stream_target(l, row->family, (uid_t)-1, 0), &peer, &pid);
        ck_assert_msg(r == 1, "%s: ours: %d", row->what, r);
        ck_assert(peer.known);
        ck_assert_uint_eq(peer.uid, geteuid());

        /* The other user as a member of an --allow-gid group (supplementary, from the group database). */
        p.allow_gid = &team, p.n_allow_gid = 1;
        r = check_one(l, row->family, &p, stream_target(l, row->family, ids.other_uid, ids.other_gid), &peer, &pid);
        ck_assert_msg(r == 1, "%s: --allow-gid member: %d", row->what, r);
        close(l);
}
END_TEST

/* A TCP peer on this host whose process closed its socket before we looked: refused, unnamed
 * (the kernel reports such a socket with uid 0, which must not read as root). */
START_TEST(stream_peer_gone) {
        struct access_policy p = policy_of(0);
        struct access_peer peer;
        struct target t;
        char text[160];
        pid_t pid;
        int l = unit_inet_listener(AF_INET, SOCK_STREAM);

        ck_assert_msg(geteuid() == 0, "needs root (CI runs as root)");
        ck_assert_int_ge(l, 0);
        t = stream_target(l, AF_INET, (uid_t)-1, 0);
        t.close_first = true;
        ck_assert_int_eq(check_one(l, AF_INET, &p, t, &peer, &pid), 0);
        ck_assert(!peer.known && peer.local);
        access_peer_describe(&peer, text, sizeof text);
        ck_assert_msg(strstr(text, "127.0.0.1:") == text && strstr(text, "(on this host, owner unknown)"), "'%s'", text);
        close(l);
}
END_TEST

START_TEST(stream_bad_family) {
        struct access_policy p = policy_of(0);
        struct access_peer peer;
        int sv[2];

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        ck_assert_int_eq(access_check_stream(&p, sv[0], AF_NETLINK, &peer), -EAFNOSUPPORT);
        /* A unix socketpair: its peer is us. */
        ck_assert_int_eq(access_check_stream(&p, sv[0], AF_UNIX, &peer), geteuid() == 0);
        ck_assert_int_eq(peer.pid, getpid());
        close(sv[0]);
        close(sv[1]);
}
END_TEST

/* ---- access_check_datagram ---- */

/* Our own sender toward the socket under test (connected when connected is true). */
static int own_sender(const struct target *t, bool connected) {
        int s = socket(t->to.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(s, 0);
        if (connected)
                ck_assert_int_eq(connect(s, (const struct sockaddr *)&t->to, t->len), 0);
        return s;
}

static void own_send(int s, const struct target *t, const char *m, bool connected) {
        ck_assert_int_eq(sendto(s, m, 2, 0, connected ? NULL : (const struct sockaddr *)&t->to, connected ? 0 : t->len), 2);
}

/* o1 (other), m1 (ours), o2 (other), m2 (ours) queued in this order; then the checks: the
 * others' are refused and dropped, ours stay queued and are read in order. */
static void interleaved(int fd, int family, struct target t, bool own_connected) {
        struct access_policy p = policy_of(geteuid());
        struct unit_child c;
        struct access_peer peer;
        char got[8][3] = {}, buf[8];
        int s, n_got = 0, refused = 0, r;

        s = own_sender(&t, own_connected);
        c = unit_child_spawn(child_peer, &t);
        unit_child_expect(&c, 'r');
        own_send(s, &t, "m1", own_connected);
        unit_child_tell(&c);
        unit_child_expect(&c, 'r');
        own_send(s, &t, "m2", own_connected);

        while ((r = access_check_datagram(&p, fd, family, &peer)) != -EAGAIN) {
                ck_assert_msg(r == 0 || r == 1, "check: %d (%s)", r, strerror(r < 0 ? -r : 0));
                if (r == 0) {
                        ck_assert_msg(peer.known, "a refused sender was not named");
                        ck_assert_uint_eq(peer.uid, ids.other_uid);
                        if (family == AF_UNIX)
                                ck_assert_int_eq(peer.pid, c.pid);
                        refused++;
                        continue;
                }
                ck_assert_uint_eq(peer.uid, geteuid());
                ck_assert_int_lt(n_got, 8);
                ck_assert_int_eq(recv(fd, buf, sizeof buf, MSG_DONTWAIT), 2);
                memcpy(got[n_got++], buf, 2);
        }
        ck_assert_int_eq(refused, 2);
        ck_assert_int_eq(n_got, 2);
        ck_assert_str_eq(got[0], "m1");
        ck_assert_str_eq(got[1], "m2");
        unit_child_finish(&c);
        close(s);
}

START_TEST(datagram_unix_abstract) {
        int fd = unit_unix_bound(SOCK_DGRAM, NULL);

        ck_assert_msg(geteuid() == 0, "needs root (CI runs as root)");
        load_ids();
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(access_prepare_datagram(fd, AF_UNIX), 0);
        interleaved(fd, AF_UNIX, target_for(fd, SOCK_DGRAM, ids.other_uid, ids.other_gid), false);
        close(fd);
}
END_TEST

START_TEST(datagram_unix_path) {
        char path[160];
        struct target t;
        int fd;

        ck_assert_msg(geteuid() == 0, "needs root (CI runs as root)");
        load_ids();
        snprintf(path, sizeof path, "%s/dgram.sock", unit_tmpdir());
        fd = unit_unix_bound(SOCK_DGRAM, path);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(access_prepare_datagram(fd, AF_UNIX), 0);
        /* The directory is root's 0700: the child connects as root, then sends as the other
         * user (credentials are taken at each send). */
        t = target_for(fd, SOCK_DGRAM, ids.other_uid, ids.other_gid);
        t.connect_as_root = true;
        interleaved(fd, AF_UNIX, t, true);
        close(fd);
}
END_TEST

static const struct udp_row {
        const char *what;
        int family; /* 0: "::", not v6-only, reached over IPv4 */
} udp_rows[] = {
        { "udp ipv4", AF_INET },
        { "udp ipv6", AF_INET6 },
        { "udp ipv4 senders, dual-stack socket", 0 },
};

static int udp_socket(int family) {
        struct sockaddr_in6 any6 = { .sin6_family = AF_INET6 };
        int fd, zero = 0;

        if (family)
                return unit_inet_listener(family, SOCK_DGRAM);
        fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero), 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&any6, sizeof any6), 0);
        return fd;
}

static struct target udp_target(int fd, int family, uid_t uid, gid_t gid) {
        struct target t = stream_target(fd, family, uid, gid);
        t.type = SOCK_DGRAM;
        return t;
}

START_TEST(datagram_udp) {
        const struct udp_row *row = &udp_rows[_i];
        int fd;

        ck_assert_msg(geteuid() == 0, "needs root (CI runs as root)");
        load_ids();
        fd = udp_socket(row->family);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(access_prepare_datagram(fd, row->family ? row->family : AF_INET6), 0);
        /* Unconnected senders, then (our own) a connected one: that one is found only through
         * the datagram's destination address when the socket is bound to "::". */
        interleaved(fd, row->family ? row->family : AF_INET6, udp_target(fd, row->family, ids.other_uid, ids.other_gid),
                    false);
        interleaved(fd, row->family ? row->family : AF_INET6, udp_target(fd, row->family, ids.other_uid, ids.other_gid),
                    true);
        close(fd);
}
END_TEST

/* Without access_prepare_datagram, a wildcard-bound socket cannot tell which of its addresses a
 * datagram was sent to, and a connected sender, even our own, cannot be found: refused. */
START_TEST(datagram_udp_unprepared) {
        struct access_policy p = policy_of(geteuid());
        struct access_peer peer;
        int fd = udp_socket(0), s;
        struct target t = udp_target(fd, 0, (uid_t)-1, 0);

        s = own_sender(&t, true);
        own_send(s, &t, "m1", true);
        ck_assert_int_eq(access_check_datagram(&p, fd, AF_INET6, &peer), 0);
        ck_assert(!peer.known && peer.local);
        ck_assert_int_eq(access_check_datagram(&p, fd, AF_INET6, &peer), -EAGAIN); /* it was dropped */
        ck_assert_int_eq(access_prepare_datagram(fd, AF_INET6), 0);
        own_send(s, &t, "m2", true);
        ck_assert_int_eq(access_check_datagram(&p, fd, AF_INET6, &peer), 1);
        ck_assert(peer.known);
        close(s);
        close(fd);
}
END_TEST

/* A UDP sender gone before we look cannot be named: refused and dropped. */
START_TEST(datagram_udp_sender_gone) {
        struct access_policy p = policy_of(geteuid());
        struct access_peer peer;
        int fd = unit_inet_listener(AF_INET, SOCK_DGRAM);
        struct target t = udp_target(fd, AF_INET, (uid_t)-1, 0);
        struct unit_child c;

        ck_assert_msg(geteuid() == 0, "needs root (CI runs as root)");
        ck_assert_int_eq(access_prepare_datagram(fd, AF_INET), 0);
        t.close_first = true;
        c = unit_child_spawn(child_peer, &t);
        unit_child_expect(&c, 'r');
        unit_child_tell(&c);
        unit_child_expect(&c, 'r');
        unit_child_expect(&c, 'c');
        for (int i = 0; i < 2; i++) {
                ck_assert_int_eq(access_check_datagram(&p, fd, AF_INET, &peer), 0);
                ck_assert(!peer.known && peer.local);
        }
        ck_assert_int_eq(access_check_datagram(&p, fd, AF_INET, &peer), -EAGAIN);
        unit_child_finish(&c);
        close(fd);
}
END_TEST

/* A unix datagram without credentials (SO_PASSCRED not set, or set after it was queued) is
 * refused, even our own: nobody can say whose it is. The kernel then reports pid 0 and the
 * overflow uid (65534), which --allow-uid lets in here: that must not be taken for a sender. */
START_TEST(datagram_unix_without_credentials) {
        uid_t overflow = 65534;
        struct access_policy p = { .owner = geteuid(), .allow_uid = &overflow, .n_allow_uid = 1 };
        struct access_peer peer;
        int fd = unit_unix_bound(SOCK_DGRAM, NULL);
        struct target t = target_for(fd, SOCK_DGRAM, (uid_t)-1, 0);
        int s = own_sender(&t, false);
        char text[160];

        own_send(s, &t, "m1", false);
        ck_assert_int_eq(access_check_datagram(&p, fd, AF_UNIX, &peer), 0);
        ck_assert(!peer.known && peer.local);
        access_peer_describe(&peer, text, sizeof text);
        ck_assert_str_eq(text, "a local sender without credentials");
        own_send(s, &t, "m2", false); /* queued before SO_PASSCRED */
        ck_assert_int_eq(access_prepare_datagram(fd, AF_UNIX), 0);
        own_send(s, &t, "m3", false);
        ck_assert_int_eq(access_check_datagram(&p, fd, AF_UNIX, &peer), 0);
        ck_assert_int_eq(access_check_datagram(&p, fd, AF_UNIX, &peer), 1);
        ck_assert_int_eq(peer.pid, getpid());
        close(s);
        close(fd);
}
END_TEST

/* Without credentials on a socket bound to a path, the file's mode decides: the kernel let only
 * those with write permission on the socket file send at all. Owner-only (the owner's or root's,
 * no group or other write): accepted, unnamed. Writable by others: refused, as on an abstract
 * socket. (The datagram that starts a service whose .socket unit lacks PassCredentials=yes.) */
static const struct guard_row {
        mode_t mode;
        uid_t file_owner;
        int want;
} guard_rows[] = {
        { 0600, 0, 1 },
        { 0700, 0, 1 },
        { 0755, 0, 1 },
        { 0620, 0, 0 },
        { 0602, 0, 0 },
        { 0666, 0, 0 },
        { 0600, 4242, 0 }, /* another user's file: they chose who may send */
};

START_TEST(datagram_unix_path_without_credentials) {
        const struct guard_row *row = &guard_rows[_i];
        struct access_policy p = policy_of(geteuid());
        struct access_peer peer;
        char path[160];
        struct target t;
        int fd, s;

        ck_assert_msg(geteuid() == 0, "needs root (CI runs as root)");
        snprintf(path, sizeof path, "%s/guarded.sock", unit_tmpdir());
        fd = unit_unix_bound(SOCK_DGRAM, path);
        ck_assert_int_ge(fd, 0);
        t = target_for(fd, SOCK_DGRAM, (uid_t)-1, 0);
        s = own_sender(&t, false);
        own_send(s, &t, "m1", false); /* queued before SO_PASSCRED: no credentials */
        ck_assert_int_eq(access_prepare_datagram(fd, AF_UNIX), 0);
        ck_assert_int_eq(chmod(path, row->mode), 0);
        ck_assert_int_eq(chown(path, row->file_owner, 0), 0);
        ck_assert_msg(access_check_datagram(&p, fd, AF_UNIX, &peer) == row->want, "row %d: mode %04o owner %ld", _i,
                      (unsigned)row->mode, (long)row->file_owner);
        ck_assert(!peer.known);
        /* Accepted: still queued for the agent. Refused: dropped. */
        ck_assert_int_eq(recv(fd, (char[4]){ 0 }, 4, MSG_DONTWAIT), row->want ? 2 : -1);
        close(s);
        close(fd);
        unlink(path);
}
END_TEST

/* Peeking at a datagram that carries fds (SCM_RIGHTS) installs none of them here, and dropping
 * it closes them. */
START_TEST(datagram_unix_passed_fds) {
        struct access_policy p = policy_of(4242);
        struct access_peer peer;
        int fd = unit_unix_bound(SOCK_DGRAM, NULL), s, passed = open("/dev/null", O_RDONLY | O_CLOEXEC), before;
        struct target t = target_for(fd, SOCK_DGRAM, (uid_t)-1, 0);
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(3 * sizeof(int))];
        } control = {};
        struct iovec iov = { .iov_base = "x", .iov_len = 1 };
        struct msghdr m = { .msg_name = &t.to, .msg_namelen = t.len, .msg_iov = &iov, .msg_iovlen = 1,
                            .msg_control = control.buf, .msg_controllen = sizeof control.buf };
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        int fds[3] = { passed, passed, passed };

        ck_assert_int_eq(access_prepare_datagram(fd, AF_UNIX), 0);
        s = own_sender(&t, false);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof fds);
        memcpy(CMSG_DATA(c), fds, sizeof fds);
        ck_assert_int_eq(sendmsg(s, &m, 0), 1);
        ck_assert_int_eq(sendmsg(s, &m, 0), 1);
        before = unit_count_fds();
        /* owner 4242: we are refused, so both are peeked and dropped */
        ck_assert_int_eq(access_check_datagram(&p, fd, AF_UNIX, &peer), 0);
        ck_assert_int_eq(access_check_datagram(&p, fd, AF_UNIX, &peer), 0);
        ck_assert_int_eq(access_check_datagram(&p, fd, AF_UNIX, &peer), -EAGAIN);
        ck_assert_int_eq(unit_count_fds(), before);
        close(s);
        close(passed);
        close(fd);
}
END_TEST

START_TEST(prepare) {
        int fd = unit_unix_bound(SOCK_DGRAM, NULL), on = 0;
        socklen_t len = sizeof on;
        int udp = unit_inet_listener(AF_INET, SOCK_DGRAM);

        ck_assert_int_eq(access_prepare_datagram(fd, AF_UNIX), 0);
        ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, &len), 0);
        ck_assert_int_eq(on, 1);
        ck_assert_int_eq(access_prepare_datagram(udp, AF_INET), 0);
        ck_assert_int_eq(getsockopt(udp, IPPROTO_IP, IP_PKTINFO, &on, &len), 0);
        ck_assert_int_eq(on, 1);
        ck_assert_int_eq(access_prepare_datagram(fd, AF_NETLINK), -EAFNOSUPPORT);
        ck_assert_int_eq(access_check_datagram(&(struct access_policy){ 0 }, fd, AF_NETLINK,
                                               &(struct access_peer){ 0 }), -EAFNOSUPPORT);
        close(fd);
        close(udp);
}
END_TEST

/* ---- for log lines ---- */

static const struct describe_row {
        struct access_peer peer;
        const char *want;
} describe_rows[] = {
        { { .known = true, .local = true, .pid = 4242, .uid = 1001, .gid = 1001 }, "uid 1001 (pid 4242)" },
        { { .known = true, .local = true, .uid = 1001, .gid = 1001 }, "uid 1001" },
        { { .known = true, .local = true, .uid = 1001, .gid = (gid_t)-1, .addr = "127.0.0.1:40522" },
          "uid 1001 (127.0.0.1:40522)" },
        { { .known = false, .local = false, .uid = (uid_t)-1, .addr = "[2001:db8::1]:40522" },
          "[2001:db8::1]:40522 (remote)" },
        { { .known = false, .local = true, .uid = (uid_t)-1, .addr = "[::1]:40522" },
          "[::1]:40522 (on this host, owner unknown)" },
        { { .known = false, .local = true, .uid = (uid_t)-1 }, "a local sender without credentials" },
};

START_TEST(describe_table) {
        char buf[160];

        ck_assert_str_eq(access_peer_describe(&describe_rows[_i].peer, buf, sizeof buf), describe_rows[_i].want);
        /* truncated, still terminated */
        ck_assert_uint_eq(strlen(access_peer_describe(&describe_rows[_i].peer, buf, 6)), 5);
}
END_TEST

START_TEST(error_hint) {
        ck_assert(strstr(access_error_hint(-EAFNOSUPPORT), "AF_NETLINK"));
        ck_assert(strstr(access_error_hint(-EPERM), "RestrictAddressFamilies="));
        ck_assert(strstr(access_error_hint(-ETIMEDOUT), "in time"));
        ck_assert_str_eq(access_error_hint(-EIO), "");
}
END_TEST

int main(void) {
        Suite *s = suite_create("access");
        TCase *policy = tcase_create("policy"), *stream = tcase_create("stream"), *dgram = tcase_create("datagram");

        tcase_add_loop_test(policy, allowed_table, 0, N_ROWS(allowed_rows));
        tcase_add_test(policy, group_cache);
        tcase_add_loop_test(policy, describe_table, 0, N_ROWS(describe_rows));
        tcase_add_test(policy, error_hint);
        suite_add_tcase(s, policy);
        tcase_add_loop_test(stream, stream_table, 0, N_ROWS(stream_rows));
        tcase_add_test(stream, stream_peer_gone);
        tcase_add_test(stream, stream_bad_family);
        tcase_set_timeout(stream, 30);
        suite_add_tcase(s, stream);
        tcase_add_test(dgram, datagram_unix_abstract);
        tcase_add_test(dgram, datagram_unix_path);
        tcase_add_loop_test(dgram, datagram_udp, 0, N_ROWS(udp_rows));
        tcase_add_test(dgram, datagram_udp_unprepared);
        tcase_add_test(dgram, datagram_udp_sender_gone);
        tcase_add_test(dgram, datagram_unix_without_credentials);
        tcase_add_loop_test(dgram, datagram_unix_path_without_credentials, 0,
                            (int)(sizeof guard_rows / sizeof guard_rows[0]));
        tcase_add_test(dgram, datagram_unix_passed_fds);
        tcase_add_test(dgram, prepare);
        tcase_set_timeout(dgram, 30);
        suite_add_tcase(s, dgram);
        return unit_run(s);
}
