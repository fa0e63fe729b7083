/* Directory listing: read the directory through its own open file description (the cached
 * directory fd is shared), stat each name, sort, and print a plain HTML table. */
#include "handler/dirlist.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "http/path.h"

#define APPEND_LIT(b, s) buf_append((b), (s), sizeof(s) - 1)

struct dl_entry {
    char *name;
    bool is_dir;
    off_t size;
    time_t mtime;
};

static int dl_cmp(const void *a, const void *b)
{
    const struct dl_entry *x = a, *y = b;
    if (x->is_dir != y->is_dir) return x->is_dir ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int html_escape(struct buf *b, const char *s)
{
    for (; *s; s++) {
        const char *rep = NULL;
        switch (*s) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        }
        if (rep ? buf_append(b, rep, strlen(rep)) : buf_append(b, s, 1)) return -1;
    }
    return 0;
}

static bool is_dot_or_dotdot(const char *name)
{
    return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

static int read_entries(int dir_fd, bool dotfiles, struct dl_entry **out, size_t *count)
{
    int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -1;
    }
    struct dl_entry *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' && (!dotfiles || is_dot_or_dotdot(de->d_name))) continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, 0) < 0 &&
            fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            struct dl_entry *nv = realloc(v, cap * sizeof(*v));
            if (!nv) {
                rc = -1;
                break;
            }
            v = nv;
        }
        v[n].name = strdup(de->d_name);
        if (!v[n].name) {
            rc = -1;
            break;
        }
        v[n].is_dir = S_ISDIR(st.st_mode);
        v[n].size = st.st_size;
        v[n].mtime = st.st_mtim.tv_sec;
        n++;
    }
    closedir(d);
    if (rc < 0) {
        for (size_t i = 0; i < n; i++)
            free(v[i].name);
        free(v);
        errno = ENOMEM;
        return -1;
    }
    qsort(v, n, sizeof(*v), dl_cmp);
    *out = v;
    *count = n;
    return 0;
}

static int render(struct buf *b, const char *url_path, const struct dl_entry *v, size_t n)
{
    if (APPEND_LIT(b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ") ||
        html_escape(b, url_path) || APPEND_LIT(b, "</title></head>\n<body><h1>Index of ") ||
        html_escape(b, url_path) || APPEND_LIT(b, "</h1>\n<table>\n"))
        return -1;
    if (strcmp(url_path, "/") != 0 &&
        buf_appendf(b, "<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n") < 0)
        return -1;
    char href[3 * 256 + 2];
    for (size_t i = 0; i < n; i++) {
        long hl = http_path_encode(v[i].name, strlen(v[i].name), href, sizeof(href) - 1);
        if (hl < 0) continue;
        const char *slash = v[i].is_dir ? "/" : "";
        char when[32];
        struct tm tm;
        gmtime_r(&v[i].mtime, &tm);
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
        if (buf_appendf(b, "<tr><td><a href=\"%s%s\">", href, slash) < 0 ||
            html_escape(b, v[i].name) || buf_appendf(b, "%s</a></td>", slash) < 0)
            return -1;
        int r = v[i].is_dir
                    ? buf_appendf(b, "<td>-</td><td>%s</td></tr>\n", when)
                    : buf_appendf(b, "<td>%lld</td><td>%s</td></tr>\n", (long long)v[i].size, when);
        if (r < 0) return -1;
    }
    return APPEND_LIT(b, "</table>\n</body></html>\n");
}

int dirlist_render(struct pool *pool, int dirfd, const char *url_path, bool dotfiles, char **out,
                   size_t *out_len)
{
    struct dl_entry *v;
    size_t n;
    if (read_entries(dirfd, dotfiles, &v, &n) < 0) return -1;
    struct buf b = {0};
    int rc = render(&b, url_path, v, n);
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
    if (rc == 0) {
        *out = pool_strndup(pool, buf_ptr(&b), buf_size(&b));
        *out_len = buf_size(&b);
        if (!*out) rc = -1;
    }
    buf_free(&b);
    if (rc < 0) errno = ENOMEM;
    return rc;
}
