/* fuzz_inet_diag.c: sockdiag_parse_reply on arbitrary bytes, for an arbitrary query. The input
 * is a 41-byte query header, then the reply as the kernel would send it:
 *     flags (bit 0 UDP, bit 1 IPv6, bit 7 an invalid family), src[16], dst[16],
 *     sport (2, big-endian), dport (2, big-endian), seq (4, little-endian), reply...
 * Besides never reading past the reply (the bytes end where the input ends, so ASan sees it):
 * a failure leaves ret untouched; a success fills it, with an inode, from a message that an
 * independent walk finds (our seq, SOCK_DIAG_BY_FAMILY, the same uid, inode and port);
 * -ESTALE only when no message carries the seq; -EINVAL exactly for an invalid query; every
 * other result a negative errno; and the same bytes parse the same way twice. */
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>

#include "fuzz.h"
#include "sockdiag.h"

#define HEADER 41

static struct sockdiag_query query_from(const uint8_t *d, uint32_t *ret_seq) {
        struct sockdiag_query q = {
                .family = (d[0] & 0x80) ? AF_UNIX : (d[0] & 2) ? AF_INET6 : AF_INET,
                .protocol = (d[0] & 1) ? IPPROTO_UDP : IPPROTO_TCP,
                .sport = (uint16_t)(d[33] << 8 | d[34]),
                .dport = (uint16_t)(d[35] << 8 | d[36]),
        };

        memcpy(q.src, d + 1, 16);
        memcpy(q.dst, d + 17, 16);
        *ret_seq = (uint32_t)d[37] | (uint32_t)d[38] << 8 | (uint32_t)d[39] << 16 | (uint32_t)d[40] << 24;
        return q;
}

/* The oracle's own walk: well-formed messages until one carries seq. Returns its offset, or -1
 * when none does (*ret_well_formed says whether every message read was whole). */
static long find_seq(const uint8_t *buf, size_t len, uint32_t seq, bool *ret_well_formed) {
        size_t off = 0;

        *ret_well_formed = len >= sizeof(struct nlmsghdr);
        while (off < len) {
                struct nlmsghdr h;

                if (len - off < sizeof h) {
                        *ret_well_formed = false;
                        return -1;
                }
                memcpy(&h, buf + off, sizeof h);
                if (h.nlmsg_len < sizeof h || h.nlmsg_len > len - off) {
                        *ret_well_formed = false;
                        return -1;
                }
                if (h.nlmsg_seq == seq)
                        return (long)off;
                off += ((size_t)h.nlmsg_len + 3) & ~(size_t)3;
        }
        return -1;
}

static void check_success(const uint8_t *buf, size_t len, const struct sockdiag_query *q, uint32_t seq,
                          const struct sockdiag_owner *o) {
        struct nlmsghdr h;
        struct inet_diag_msg m;
        bool whole;
        long off = find_seq(buf, len, seq, &whole);

        FUZZ_CHECK(off >= 0, "success without a message carrying seq %u", seq);
        memcpy(&h, buf + off, sizeof h);
        FUZZ_CHECK(h.nlmsg_type == SOCK_DIAG_BY_FAMILY, "success from message type %u", h.nlmsg_type);
        FUZZ_CHECK(h.nlmsg_len >= sizeof h + sizeof m, "success from a %u-byte message", h.nlmsg_len);
        memcpy(&m, buf + off + sizeof h, sizeof m);
        FUZZ_CHECK(o->uid == m.idiag_uid && o->inode == m.idiag_inode && o->state == m.idiag_state,
                   "result (uid %u, inode %u) is not the message's (uid %u, inode %u)", (unsigned)o->uid,
                   o->inode, m.idiag_uid, m.idiag_inode);
        FUZZ_CHECK(o->inode != 0, "success with inode 0 (a closed socket, uid 0 made up)");
        FUZZ_CHECK(m.id.idiag_sport == htons(q->sport), "success for another port");
        FUZZ_CHECK(m.idiag_family == AF_INET || m.idiag_family == AF_INET6, "success for family %u", m.idiag_family);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct sockdiag_owner o, sentinel, again;
        struct sockdiag_query q;
        const uint8_t *reply = data + HEADER;
        size_t len;
        uint32_t seq;
        bool valid, whole;
        int r;

        fuzz_begin(data, size);
        if (size < HEADER)
                return 0;
        len = size - HEADER;
        q = query_from(data, &seq);
        valid = q.family != AF_UNIX;
        memset(&o, 0xa5, sizeof o);
        sentinel = o;
        again = o;

        r = sockdiag_parse_reply(reply, len, &q, seq, &o);
        FUZZ_CHECK(r <= 0 && r >= -4095, "return %d is neither 0 nor a negative errno", r);
        FUZZ_CHECK((r == -EINVAL) == !valid, "return %d for a %s query", r, valid ? "valid" : "invalid");
        FUZZ_CHECK(sockdiag_parse_reply(reply, len, &q, seq, &again) == r, "a second parse disagrees");
        if (r < 0) {
                FUZZ_CHECK(memcmp(&o, &sentinel, sizeof o) == 0, "a failed parse (%d) wrote ret", r);
                if (r == -ESTALE)
                        FUZZ_CHECK(find_seq(reply, len, seq, &whole) < 0 && whole,
                                   "-ESTALE, but a message carries the seq or one is malformed");
                return 0;
        }
        FUZZ_CHECK(o.uid == again.uid && o.inode == again.inode && o.state == again.state,
                   "a second parse filled another result");
        check_success(reply, len, &q, seq, &o);
        return 0;
}
