/* HTML directory listings for the static handler (when a location enables `listing`). */
#ifndef TERN_HANDLER_DIRLIST_H
#define TERN_HANDLER_DIRLIST_H

#include <stdbool.h>
#include <stddef.h>

#include "core/pool.h"

/* Renders the directory open as dirfd, reached at url_path (decoded, ending in '/'), as an
 * HTML page in pool: directories first, then files, each group sorted by name bytewise; names
 * HTML-escaped in text and percent-encoded in hrefs; names starting with '.' are listed only
 * with dotfiles ("." and ".." never). Returns 0 or -1 (errno set). */
int dirlist_render(struct pool *pool, int dirfd, const char *url_path, bool dotfiles, char **out,
                   size_t *out_len);

#endif
