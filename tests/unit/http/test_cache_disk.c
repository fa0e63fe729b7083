/* http/cache_disk: an entry encoded and decoded again, every truncation and every flipped byte
 * of the header refused, prefix checks; and the disk store of http/cache_store: files written
 * and renamed, found again by a new store, partial, corrupt and foreign files, unlink on
 * removal but not on close. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/buf.h"
#include "http/cache_disk.h"
#include "http/cache_store.h"

static struct cache_entry *sample(const char *key)
{
    struct cache_entry *e = cache_entry_new();
    CHECK(e != NULL);
    CHECK_INT(cache_entry_set_key(e, key, strlen(key)), 0);
    e->status = 203;
    e->request_time = 1700000000;
    e->response_time = 1700000001;
    e->date = 1699999999;
    e->lifetime = 3600;
    http_fields_add(&e->fields, e->pool, STR_LIT("Content-Type"), STR_LIT("text/plain"));
    http_fields_add(&e->fields, e->pool, STR_LIT("ETag"), STR_LIT("\"abc\""));
    http_fields_add(&e->fields, e->pool, STR_LIT("Vary"), STR_LIT("Accept-Encoding"));
    http_fields_add(&e->fields, e->pool, STR_LIT("X-Empty"), STR_LIT(""));
    http_fields_add(&e->req_fields, e->pool, STR_LIT("Accept-Encoding"), STR_LIT("gzip"));
    return e;
}

static bool same_fields(const struct http_fields *a, const struct http_fields *b)
{
    if (a->count != b->count) return false;
    for (size_t i = 0; i < a->count; i++)
        if (!str_eq(a->items[i].name, b->items[i].name) ||
            !str_eq(a->items[i].value, b->items[i].value) || a->items[i].token != b->items[i].token)
            return false;
    return true;
}

static void test_roundtrip(void)
{
    struct cache_entry *e = sample("https://a.test/x?y=1");
    struct buf b = {0};
    CHECK_INT(cache_disk_encode(&b, e), 0);
    CHECK(buf_size(&b) > CACHE_DISK_PREFIX);
    cache_disk_set_body_len(buf_ptr(&b), 12345);
    size_t hl;
    uint64_t bl;
    CHECK_INT(cache_disk_parse_prefix(buf_ptr(&b), buf_size(&b), &hl, &bl), 0);
    CHECK_INT(hl, buf_size(&b) - CACHE_DISK_PREFIX);
    CHECK_INT(bl, 12345);
    struct cache_entry *d = cache_entry_new();
    CHECK_INT(cache_disk_decode(d, buf_ptr(&b), buf_ptr(&b) + CACHE_DISK_PREFIX, hl), 0);
    CHECK_STRN(d->key, d->key_len, "https://a.test/x?y=1");
    CHECK(d->hash == e->hash);
    CHECK_INT(d->status, 203);
    CHECK_INT(d->request_time, 1700000000);
    CHECK_INT(d->response_time, 1700000001);
    CHECK_INT(d->date, 1699999999);
    CHECK_INT(d->lifetime, 3600);
    CHECK(same_fields(&d->fields, &e->fields));
    CHECK(same_fields(&d->req_fields, &e->req_fields));
    CHECK(http_fields_find(&d->fields, HTTP_TOKEN_ETAG) != NULL);
    cache_entry_release(d);

    /* every shorter header, and every flipped byte, is refused */
    for (size_t n = 0; n < hl; n++) {
        d = cache_entry_new();
        CHECK(cache_disk_decode(d, buf_ptr(&b), buf_ptr(&b) + CACHE_DISK_PREFIX, n) < 0);
        cache_entry_release(d);
    }
    for (size_t i = CACHE_DISK_PREFIX; i < buf_size(&b); i++) {
        buf_ptr(&b)[i] ^= 0x20;
        d = cache_entry_new();
        CHECK(cache_disk_decode(d, buf_ptr(&b), buf_ptr(&b) + CACHE_DISK_PREFIX, hl) < 0);
        cache_entry_release(d);
        buf_ptr(&b)[i] ^= 0x20;
    }
    /* the prefix: magic and reserved bytes (a changed length is for the file's size to refute) */
    for (size_t i = 0; i < 16; i++) {
        if (i >= 8 && i < 12) continue;
        buf_ptr(&b)[i] ^= 0x01;
        CHECK(cache_disk_parse_prefix(buf_ptr(&b), buf_size(&b), &hl, &bl) < 0);
        buf_ptr(&b)[i] ^= 0x01;
    }
    CHECK(cache_disk_parse_prefix(buf_ptr(&b), CACHE_DISK_PREFIX - 1, &hl, &bl) < 0);
    buf_ptr(&b)[11] = 0x7f; /* a header over CACHE_DISK_MAX_HEAD */
    CHECK(cache_disk_parse_prefix(buf_ptr(&b), buf_size(&b), &hl, &bl) < 0);
    buf_free(&b);
    cache_entry_release(e);
}

static size_t count_files(const char *dir, bool tmp)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' ? !tmp : (tmp && strncmp(de->d_name, ".tmp-", 5) == 0)) n++;
    closedir(d);
    return n;
}

static bool stored;

static void committed(struct cache_store *s, void *arg, bool ok)
{
    (void)s;
    *(bool *)arg = ok;
}

/* Writes a disk entry for key with n bytes of c, inserted into s (by the writer thread). */
static void put(struct cache_store *s, const char *key, size_t n, char c)
{
    struct cache_entry *e = sample(key);
    CHECK_INT(cache_store_file_begin(s, e), 0);
    char buf[1000];
    memset(buf, c, sizeof(buf));
    for (size_t i = 0; i < n; i += sizeof(buf))
        CHECK_INT(cache_entry_file_append(e, buf, n - i < sizeof(buf) ? n - i : sizeof(buf)), 0);
    CHECK_INT(cache_store_file_commit(s, e, committed, &stored), 0);
    cache_store_writes_wait(s);
    CHECK(stored);
    stored = false;
    cache_entry_release(e);
}

static struct cache_entry *get(struct cache_store *s, const char *key)
{
    struct http_fields req = {0};
    struct pool *p = pool_create(512);
    http_fields_add(&req, p, STR_LIT("Accept-Encoding"), STR_LIT("gzip"));
    struct cache_entry *e =
        cache_store_lookup(s, key, strlen(key), cache_entry_vary_match, &req, NULL);
    pool_destroy(p);
    return e;
}

static bool body_is(const struct cache_entry *e, size_t n, char c)
{
    FILE *f = fopen(e->path, "rb");
    if (!f) return false;
    fseek(f, (long)e->body_off, SEEK_SET);
    size_t got = 0;
    int ch;
    while ((ch = fgetc(f)) != EOF) {
        if (ch != c) break;
        got++;
    }
    fclose(f);
    return got == n && e->body_len == n;
}

static void test_store(void)
{
    char dir[] = "/tmp/tern-cache-disk-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    struct cache_store *s = cache_store_new_disk(dir, 100000, 1 << 20);
    CHECK(s && cache_store_on_disk(s));
    put(s, "http://a/1", 5000, '1');
    put(s, "http://a/2", 0, '2');
    CHECK_INT(count_files(dir, false), 2);
    /* a reader keeps a removed entry's file until it lets go */
    struct cache_entry *e = get(s, "http://a/1");
    CHECK(e && body_is(e, 5000, '1'));
    CHECK_INT(cache_store_remove(s, "http://a/1", 10), 1);
    CHECK_INT(count_files(dir, false), 2);
    cache_entry_release(e);
    CHECK_INT(count_files(dir, false), 1);
    put(s, "http://a/1", 7000, 'x');
    /* an entry given up while written leaves nothing */
    struct cache_entry *w = sample("http://a/3");
    CHECK_INT(cache_store_file_begin(s, w), 0);
    cache_store_writes_wait(s);
    CHECK_INT(count_files(dir, true), 1);
    cache_entry_release(w);
    CHECK_INT(count_files(dir, true), 0);
    /* closing keeps the files; a new store finds them */
    cache_store_close(s);
    cache_store_free(s);
    CHECK_INT(count_files(dir, false), 2);
    /* plus a foreign file, a garbled one with tern's naming, and a dead process's partial */
    char path[256];
    snprintf(path, sizeof(path), "%s/notes.txt", dir);
    FILE *f = fopen(path, "w");
    fputs("mine", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/0123456789abcdef-0123456789abcdef", dir);
    f = fopen(path, "w");
    fputs("TERNCE01 and then nonsense", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/.tmp-1-0000000000000001", dir);
    f = fopen(path, "w");
    fclose(f);
    s = cache_store_new_disk(dir, 100000, 1 << 20);
    CHECK(s != NULL);
    CHECK_INT(count_files(dir, false), 3); /* the two entries and notes.txt */
    CHECK_INT(count_files(dir, true), 0);
    e = get(s, "http://a/1");
    CHECK(e && body_is(e, 7000, 'x'));
    CHECK(e && e->status == 203 && e->lifetime == 3600);
    cache_entry_release(e);
    e = get(s, "http://a/2");
    CHECK(e && e->body_len == 0);
    cache_entry_release(e);
    size_t bytes, n;
    cache_store_usage(s, &bytes, &n);
    CHECK_INT(n, 2);
    /* eviction past max_size unlinks the least recently used */
    for (int i = 0; i < 20; i++) {
        char key[32];
        snprintf(key, sizeof(key), "http://b/%d", i);
        put(s, key, 10000, 'b');
    }
    cache_store_usage(s, &bytes, &n);
    CHECK(bytes <= 100000);
    CHECK_INT(count_files(dir, false), n + 1);
    cache_store_free(s);
    /* a store with less room drops what does not fit at its scan */
    s = cache_store_new_disk(dir, 25000, 1 << 20);
    cache_store_usage(s, &bytes, &n);
    CHECK(bytes <= 25000 && n == 2);
    CHECK_INT(count_files(dir, false), 3);
    cache_store_free(s);
    snprintf(path, sizeof(path), "rm -rf %s", dir);
    CHECK_INT(system(path), 0);
}

/* A write that does not fit in the writer's queue gives its entry up at once: nothing is
 * committed, and the temporary file goes with the entry. */
static void test_queue_full(void)
{
    char dir[] = "/tmp/tern-cache-disk-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    struct cache_store *s = cache_store_new_disk(dir, 100000, 4096);
    CHECK(s != NULL);
    struct cache_entry *e = sample("http://q/1");
    CHECK_INT(cache_store_file_begin(s, e), 0);
    char buf[5000];
    memset(buf, 'q', sizeof(buf));
    CHECK_INT(cache_entry_file_append(e, buf, 1000), 0);
    CHECK_INT(cache_entry_file_append(e, buf, sizeof(buf)), -1);
    CHECK_INT(cache_entry_file_append(e, buf, 10), -1); /* given up: nothing more queued */
    CHECK_INT(cache_store_file_commit(s, e, committed, &stored), -1);
    cache_entry_release(e);
    cache_store_writes_wait(s);
    CHECK_INT(count_files(dir, true), 0);
    CHECK_INT(count_files(dir, false), 0);
    CHECK(cache_store_lookup(s, "http://q/1", 10, NULL, NULL, NULL) == NULL);
    cache_store_free(s);
    rmdir(dir);
}

int main(void)
{
    test_roundtrip();
    test_store();
    test_queue_full();
    return check_done("http/cache_disk");
}
