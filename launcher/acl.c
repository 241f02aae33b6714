/* acl.c: who a POSIX ACL lets write, read from the raw system.posix_acl_access xattr so that
 * pylaunchd needs no libacl. Pure: libc only, so the fuzz targets link it alone. */
#include <errno.h>
#include <stdbool.h>

#include "acl.h"

static uint32_t le16(const unsigned char *p) {
        return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t le32(const unsigned char *p) {
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool known_tag(uint32_t tag) {
        switch (tag) {
        case ACL_XATTR_USER_OBJ:
        case ACL_XATTR_USER:
        case ACL_XATTR_GROUP_OBJ:
        case ACL_XATTR_GROUP:
        case ACL_XATTR_MASK:
        case ACL_XATTR_OTHER:
                return true;
        default:
                return false;
        }
}

/* Checks the layout and the tags; says whether the mask (if any) lets write through. */
static int validate(const unsigned char *v, size_t size, bool *ret_mask_writes) {
        bool has_mask = false, mask_writes = false;

        if (size < ACL_XATTR_HEADER_SIZE || le32(v) != ACL_XATTR_VERSION ||
            (size - ACL_XATTR_HEADER_SIZE) % ACL_XATTR_ENTRY_SIZE != 0)
                return -EINVAL;
        for (size_t off = ACL_XATTR_HEADER_SIZE; off < size; off += ACL_XATTR_ENTRY_SIZE) {
                uint32_t tag = le16(v + off);

                if (!known_tag(tag))
                        return -EINVAL;
                if (tag == ACL_XATTR_MASK) {
                        has_mask = true;
                        mask_writes = mask_writes || (le16(v + off + 2) & ACL_XATTR_PERM_WRITE);
                }
        }
        *ret_mask_writes = !has_mask || mask_writes;
        return 0;
}

int acl_xattr_next_writer(const void *value, size_t size, size_t *cursor, struct acl_xattr_writer *ret) {
        const unsigned char *v = value;
        bool mask_writes;
        size_t off;

        if (!value || validate(v, size, &mask_writes) < 0)
                return -EINVAL;
        /* The cursor counts entries, so any value of it is safe to resume from. */
        for (size_t i = *cursor; i < (size - ACL_XATTR_HEADER_SIZE) / ACL_XATTR_ENTRY_SIZE; i++) {
                uint32_t tag, perm;

                off = ACL_XATTR_HEADER_SIZE + i * ACL_XATTR_ENTRY_SIZE;
                tag = le16(v + off);
                perm = le16(v + off + 2);
                if (tag != ACL_XATTR_USER && tag != ACL_XATTR_GROUP && tag != ACL_XATTR_GROUP_OBJ)
                        continue;
                if (!(perm & ACL_XATTR_PERM_WRITE) || !mask_writes)
                        continue;
                *ret = (struct acl_xattr_writer){ .tag = (enum acl_xattr_tag)tag,
                                                  .id = tag == ACL_XATTR_GROUP_OBJ ? 0 : le32(v + off + 4) };
                *cursor = i + 1;
                return 1;
        }
        *cursor = (size - ACL_XATTR_HEADER_SIZE) / ACL_XATTR_ENTRY_SIZE;
        return 0;
}
