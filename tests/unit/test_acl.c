/* test_acl.c: acl_xattr_next_writer on system.posix_acl_access values: who each one lets write,
 * the mask applied, and every malformed value refused. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include "acl.h"
#include "unit.h"

#define U ACL_XATTR_USER
#define UO ACL_XATTR_USER_OBJ
#define G ACL_XATTR_GROUP
#define GO ACL_XATTR_GROUP_OBJ
#define M ACL_XATTR_MASK
#define O ACL_XATTR_OTHER
#define NONE 0xffffffffu /* the id the kernel stores for USER_OBJ, GROUP_OBJ, MASK, OTHER */

struct entry {
        uint16_t tag, perm;
        uint32_t id;
};

static const struct acl_row {
        const char *what;
        struct entry e[8];
        size_t n;
        struct acl_xattr_writer want[4];
        size_t n_want;
} rows[] = {
        { "no entries at all", {}, 0, {}, 0 },
        { "the minimal ACL the mode bits make", { { UO, 6, NONE }, { GO, 4, NONE }, { O, 4, NONE } }, 3, {}, 0 },
        { "owner and others may write: the mode bits show those",
          { { UO, 7, NONE }, { GO, 4, NONE }, { O, 6, NONE } }, 3, {}, 0 },
        { "a named user with write", { { UO, 6, NONE }, { U, 6, 4242 }, { GO, 4, NONE }, { M, 6, NONE }, { O, 4, NONE } },
          5, { { U, 4242 } }, 1 },
        { "a named user with write, masked away",
          { { UO, 6, NONE }, { U, 6, 4242 }, { GO, 4, NONE }, { M, 4, NONE }, { O, 4, NONE } }, 5, {}, 0 },
        { "a named user who may only read", { { UO, 6, NONE }, { U, 5, 4242 }, { GO, 4, NONE }, { M, 7, NONE }, { O, 4, NONE } },
          5, {}, 0 },
        { "write alone (2), no read", { { UO, 6, NONE }, { U, 2, 77 }, { GO, 0, NONE }, { M, 2, NONE }, { O, 0, NONE } }, 5,
          { { U, 77 } }, 1 },
        { "a named group with write", { { UO, 6, NONE }, { GO, 4, NONE }, { G, 7, 5353 }, { M, 7, NONE }, { O, 0, NONE } }, 5,
          { { G, 5353 } }, 1 },
        { "the file's group with write", { { UO, 6, NONE }, { GO, 6, NONE }, { M, 6, NONE }, { O, 4, NONE } }, 4,
          { { GO, 0 } }, 1 },
        { "the file's group with write, masked away", { { UO, 6, NONE }, { GO, 6, NONE }, { M, 5, NONE }, { O, 4, NONE } }, 4,
          {}, 0 },
        { "a named user and no mask (invalid for the kernel): counted", { { UO, 6, NONE }, { U, 6, 4242 }, { O, 4, NONE } },
          3, { { U, 4242 } }, 1 },
        { "every kind of writer, in order",
          { { UO, 7, NONE }, { U, 6, 1 }, { U, 4, 2 }, { U, 7, 3 }, { GO, 6, NONE }, { G, 2, 9 }, { M, 7, NONE }, { O, 0, NONE } },
          8, { { U, 1 }, { U, 3 }, { GO, 0 }, { G, 9 } }, 4 },
        { "two masks, one with write: write survives",
          { { UO, 6, NONE }, { U, 6, 4242 }, { M, 4, NONE }, { M, 6, NONE }, { O, 4, NONE } }, 5, { { U, 4242 } }, 1 },
        { "two masks, neither with write", { { UO, 6, NONE }, { U, 6, 4242 }, { M, 4, NONE }, { M, 0, NONE } }, 4, {}, 0 },
        { "root named: still reported (the caller decides who is fine)", { { U, 6, 0 }, { M, 6, NONE } }, 2, { { U, 0 } }, 1 },
        { "perm bits beyond rwx do not count as write", { { U, 0xfff8 | 4, 12 }, { M, 0xffff, NONE } }, 2, {}, 0 },
};

static size_t serialize(const struct entry *e, size_t n, unsigned char *out) {
        size_t len = 0;

        out[len++] = 2, out[len++] = 0, out[len++] = 0, out[len++] = 0;
        for (size_t i = 0; i < n; i++) {
                out[len++] = (unsigned char)e[i].tag, out[len++] = (unsigned char)(e[i].tag >> 8);
                out[len++] = (unsigned char)e[i].perm, out[len++] = (unsigned char)(e[i].perm >> 8);
                for (int b = 0; b < 32; b += 8)
                        out[len++] = (unsigned char)(e[i].id >> b);
        }
        return len;
}

START_TEST(writers_table) {
        const struct acl_row *row = &rows[_i];
        unsigned char blob[4 + 8 * 8];
        size_t len = serialize(row->e, row->n, blob), cursor = 0, got = 0;
        struct acl_xattr_writer w;
        int r;

        while ((r = acl_xattr_next_writer(blob, len, &cursor, &w)) == 1) {
                ck_assert_msg(got < row->n_want, "%s: an unexpected writer (tag %d, id %u)", row->what, (int)w.tag, w.id);
                ROW_INT(row->what, w.tag, row->want[got].tag);
                ROW_INT(row->what, w.id, row->want[got].id);
                got++;
        }
        ROW_INT(row->what, r, 0);
        ROW_INT(row->what, got, row->n_want);
        /* The end stays the end. */
        ROW_INT(row->what, acl_xattr_next_writer(blob, len, &cursor, &w), 0);
}
END_TEST

/* A value as the kernel stored it (Python's os.getxattr on ext4 after setting u:4242:rw-). */
START_TEST(kernel_value) {
        static const unsigned char v[] = { 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x00, 0xff, 0xff, 0xff, 0xff,
                                           0x02, 0x00, 0x06, 0x00, 0x92, 0x10, 0x00, 0x00, 0x04, 0x00, 0x04, 0x00,
                                           0xff, 0xff, 0xff, 0xff, 0x10, 0x00, 0x06, 0x00, 0xff, 0xff, 0xff, 0xff,
                                           0x20, 0x00, 0x04, 0x00, 0xff, 0xff, 0xff, 0xff };
        struct acl_xattr_writer w;
        size_t cursor = 0;

        ck_assert_int_eq(acl_xattr_next_writer(v, sizeof v, &cursor, &w), 1);
        ck_assert_int_eq(w.tag, ACL_XATTR_USER);
        ck_assert_uint_eq(w.id, 4242);
        ck_assert_int_eq(acl_xattr_next_writer(v, sizeof v, &cursor, &w), 0);
}
END_TEST

static const struct bad_row {
        const char *what;
        const char *bytes;
        size_t size;
} bad_rows[] = {
        { "empty", "", 0 },
        { "a short header", "\x02\x00\x00", 3 },
        { "version 1", "\x01\x00\x00\x00", 4 },
        { "version 2, big-endian", "\x00\x00\x00\x02", 4 },
        { "half an entry", "\x02\x00\x00\x00\x02\x00\x06\x00", 8 },
        { "an entry and a byte", "\x02\x00\x00\x00\x02\x00\x06\x00\x92\x10\x00\x00\x00", 13 },
        { "tag 0", "\x02\x00\x00\x00\x00\x00\x06\x00\x92\x10\x00\x00", 12 },
        { "an unknown tag (0x40)", "\x02\x00\x00\x00\x40\x00\x06\x00\x92\x10\x00\x00", 12 },
        { "two tags in one (USER|GROUP)", "\x02\x00\x00\x00\x0a\x00\x06\x00\x92\x10\x00\x00", 12 },
        { "a good entry, then a bad tag after it",
          "\x02\x00\x00\x00\x02\x00\x06\x00\x92\x10\x00\x00\x00\x01\x06\x00\x00\x00\x00\x00", 20 },
};

START_TEST(malformed_table) {
        const struct bad_row *row = &bad_rows[_i];
        struct acl_xattr_writer w = { .tag = ACL_XATTR_OTHER, .id = 99 };
        size_t cursor = 0;

        ROW_INT(row->what, acl_xattr_next_writer(row->bytes, row->size, &cursor, &w), -EINVAL);
        ROW_INT(row->what, cursor, 0);
        ROW_INT(row->what, w.tag, ACL_XATTR_OTHER);
        ROW_INT(row->what, w.id, 99);
}
END_TEST

START_TEST(null_value) {
        struct acl_xattr_writer w;
        size_t cursor = 0;

        ck_assert_int_eq(acl_xattr_next_writer(NULL, 0, &cursor, &w), -EINVAL);
}
END_TEST

int main(void) {
        Suite *s = suite_create("acl");
        TCase *tc = tcase_create("acl");

        tcase_add_loop_test(tc, writers_table, 0, (int)(sizeof rows / sizeof rows[0]));
        tcase_add_test(tc, kernel_value);
        tcase_add_loop_test(tc, malformed_table, 0, (int)(sizeof bad_rows / sizeof bad_rows[0]));
        tcase_add_test(tc, null_value);
        suite_add_tcase(s, tc);
        return unit_run(s);
}
