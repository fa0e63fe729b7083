/* The file format of the caching proxy's disk store (http/cache_store.h): one file per stored
 * response, a fixed 32-byte prefix, a header with the entry's metadata, then the body as sent.
 *
 *   prefix: "TERNCE01" | u32 header_len | u32 0 | u64 body_len | u64 FNV-1a of the header
 *   header: u32 status | i64 request_time, response_time, date, lifetime | str key
 *           | u32 n, n x (str name, str value): the stored response fields
 *           | u32 n, n x (str name, str value): the request fields its Vary names
 *   str:    u32 length, then the bytes
 *
 * Integers are little-endian. The file's size must be exactly 32 + header_len + body_len: a
 * file cut short (a crash while it was written, which the rename-into-place should already
 * rule out, or a full disk) is recognised without reading the body. The checksum covers the
 * header only: checking bodies would make the start-up scan read every byte stored. Pure
 * functions, no I/O: unit-tested and fuzzed. */
#ifndef TERN_HTTP_CACHE_DISK_H
#define TERN_HTTP_CACHE_DISK_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "http/cache_store.h"

#define CACHE_DISK_PREFIX   32
#define CACHE_DISK_MAX_HEAD ((size_t)1 << 20) /* a larger header is not stored */

/* Appends e's prefix (body_len 0 for now) and header to b. 0, or -1 on OOM or a header over
 * CACHE_DISK_MAX_HEAD. */
int cache_disk_encode(struct buf *b, const struct cache_entry *e);
/* Writes body_len into an encoded prefix (when the body is complete). */
void cache_disk_set_body_len(char *prefix, uint64_t body_len);
/* Reads a prefix: 0 and the lengths, or -1 when it is not one (magic, sizes). */
int cache_disk_parse_prefix(const char *p, size_t len, size_t *header_len, uint64_t *body_len);
/* Decodes a header (checked against the prefix's checksum) into e, an entry fresh from
 * cache_entry_new: key, status, times, lifetime and both field lists, copied into e's pool.
 * 0, or -1 when it is malformed or memory ran out (e is then to be released). */
int cache_disk_decode(struct cache_entry *e, const char *prefix, const char *head, size_t head_len);

#endif
