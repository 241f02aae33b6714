/* acl.h: who a POSIX ACL lets write: a pure parser of Linux's system.posix_acl_access xattr. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* The xattr's layout (the kernel's posix_acl_xattr.h): a 4-byte little-endian version, 2, then
 * 8-byte entries {u16 tag, u16 perm, u32 id}, all little-endian. */
#define ACL_XATTR_NAME "system.posix_acl_access"
#define ACL_XATTR_VERSION 2
#define ACL_XATTR_HEADER_SIZE 4
#define ACL_XATTR_ENTRY_SIZE 8
#define ACL_XATTR_PERM_WRITE 0x02

enum acl_xattr_tag {
        ACL_XATTR_USER_OBJ = 0x01,  /* the file's owner: the mode's owner bits */
        ACL_XATTR_USER = 0x02,      /* a named user, id a uid */
        ACL_XATTR_GROUP_OBJ = 0x04, /* the file's group */
        ACL_XATTR_GROUP = 0x08,     /* a named group, id a gid */
        ACL_XATTR_MASK = 0x10,      /* the most USER, GROUP_OBJ and GROUP entries may grant */
        ACL_XATTR_OTHER = 0x20,     /* everyone else: the mode's other bits */
};

/* An entry that lets someone write, once the mask is applied. */
struct acl_xattr_writer {
        enum acl_xattr_tag tag; /* ACL_XATTR_USER, ACL_XATTR_GROUP or ACL_XATTR_GROUP_OBJ */
        uint32_t id;            /* the uid or gid; 0 for GROUP_OBJ (the file's group: see st_gid) */
};

/* Walks the entries of value (size bytes) that let someone write: start with *cursor = 0 and
 * call until it returns 0. Returns 1 with the next writer in ret, 0 when none is left, or
 * -EINVAL (ret and *cursor untouched) when value is malformed: shorter than the header, another
 * version, a size that is not the header plus whole entries, or a tag it does not know. The whole
 * value is checked on every call, so a malformed one fails on the first.
 *
 * USER_OBJ and OTHER are never reported: the mode bits show them (the owner, and S_IWOTH). A
 * USER, GROUP or GROUP_OBJ entry with write is reported unless a mask takes write away; with
 * several masks (which the kernel never stores), write survives if any of them grants it, so a
 * strange value errs on the side of "writable". */
int acl_xattr_next_writer(const void *value, size_t size, size_t *cursor, struct acl_xattr_writer *ret);
