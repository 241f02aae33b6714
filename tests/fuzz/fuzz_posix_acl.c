/* fuzz_posix_acl.c: acl_xattr_next_writer on arbitrary bytes, against a reading of the layout
 * written out here: malformed values are refused on the first call with nothing written; a
 * well-formed one yields exactly its USER, GROUP and GROUP_OBJ entries that have write (none
 * when every mask takes write away), in order, with their ids, and then keeps saying 0. */
#include <errno.h>

#include "acl.h"
#include "fuzz.h"

static unsigned u16(const uint8_t *p) {
        return (unsigned)p[0] | (unsigned)p[1] << 8;
}

static uint32_t u32(const uint8_t *p) {
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool reference_valid(const uint8_t *d, size_t size, bool *ret_mask_writes) {
        bool mask = false, mask_writes = false;

        if (size < 4 || u32(d) != 2 || (size - 4) % 8)
                return false;
        for (size_t off = 4; off < size; off += 8) {
                unsigned tag = u16(d + off);
                if (tag != 0x01 && tag != 0x02 && tag != 0x04 && tag != 0x08 && tag != 0x10 && tag != 0x20)
                        return false;
                if (tag == 0x10) {
                        mask = true;
                        mask_writes |= (u16(d + off + 2) & 2) != 0;
                }
        }
        *ret_mask_writes = !mask || mask_writes;
        return true;
}

/* The next entry at or after *i that the reference counts as a writer; false at the end. */
static bool reference_next(const uint8_t *d, size_t size, bool mask_writes, size_t *i, unsigned *ret_tag,
                           uint32_t *ret_id) {
        for (; 4 + *i * 8 < size; (*i)++) {
                const uint8_t *e = d + 4 + *i * 8;
                unsigned tag = u16(e);
                if ((tag == 0x02 || tag == 0x04 || tag == 0x08) && (u16(e + 2) & 2) && mask_writes) {
                        *ret_tag = tag;
                        *ret_id = tag == 0x04 ? 0 : u32(e + 4);
                        (*i)++;
                        return true;
                }
        }
        return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct acl_xattr_writer w = { .tag = ACL_XATTR_OTHER, .id = 0xdeadbeef };
        size_t cursor = 0, ref = 0, entries = size >= 4 ? (size - 4) / 8 : 0, calls = 0;
        bool mask_writes = false, valid;
        unsigned tag;
        uint32_t id;
        int r;

        fuzz_begin(data, size);
        valid = reference_valid(data, size, &mask_writes);
        r = acl_xattr_next_writer(data, size, &cursor, &w);
        if (!valid) {
                FUZZ_CHECK(r == -EINVAL, "a malformed value gave %d, want -EINVAL", r);
                FUZZ_CHECK(cursor == 0 && w.tag == ACL_XATTR_OTHER && w.id == 0xdeadbeef,
                           "a refused value wrote the cursor or the writer");
                return 0;
        }
        for (;;) {
                bool more = reference_next(data, size, mask_writes, &ref, &tag, &id);
                FUZZ_CHECK(r == 0 || r == 1, "a well-formed value gave %d", r);
                FUZZ_CHECK((r == 1) == more, "returned %d; the reference %s another writer", r, more ? "has" : "has no");
                if (!more)
                        break;
                FUZZ_CHECK((unsigned)w.tag == tag && w.id == id, "writer (tag %#x, id %u), want (tag %#x, id %u)",
                           (unsigned)w.tag, w.id, tag, id);
                FUZZ_CHECK(cursor == ref && cursor <= entries, "cursor %zu after entry %zu of %zu", cursor, ref, entries);
                FUZZ_CHECK(++calls <= entries, "more writers than entries");
                r = acl_xattr_next_writer(data, size, &cursor, &w);
        }
        FUZZ_CHECK(acl_xattr_next_writer(data, size, &cursor, &w) == 0, "the end did not stay the end");
        return 0;
}
