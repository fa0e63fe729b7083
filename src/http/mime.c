/* Content-Type by file extension: a sorted table searched by binary search. Text types carry
 * "; charset=utf-8"; JavaScript is text/javascript (RFC 9239). */
#include "http/mime.h"

#include <string.h>

#include "core/str.h"

struct mime_entry {
    const char *ext; /* lower case, sorted by strcmp */
    const char *type;
};

static const struct mime_entry mime_table[] = {
    {"3gp", "video/3gpp"},
    {"7z", "application/x-7z-compressed"},
    {"aac", "audio/aac"},
    {"apng", "image/apng"},
    {"atom", "application/atom+xml"},
    {"avi", "video/x-msvideo"},
    {"avif", "image/avif"},
    {"bin", "application/octet-stream"},
    {"bmp", "image/bmp"},
    {"br", "application/x-brotli"},
    {"bz2", "application/x-bzip2"},
    {"cjs", "text/javascript; charset=utf-8"},
    {"crt", "application/x-x509-ca-cert"},
    {"css", "text/css; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"deb", "application/vnd.debian.binary-package"},
    {"doc", "application/msword"},
    {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
    {"eot", "application/vnd.ms-fontobject"},
    {"epub", "application/epub+zip"},
    {"flac", "audio/flac"},
    {"gif", "image/gif"},
    {"gz", "application/gzip"},
    {"heic", "image/heic"},
    {"htm", "text/html; charset=utf-8"},
    {"html", "text/html; charset=utf-8"},
    {"ico", "image/x-icon"},
    {"ics", "text/calendar; charset=utf-8"},
    {"iso", "application/x-iso9660-image"},
    {"jar", "application/java-archive"},
    {"jfif", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"jpg", "image/jpeg"},
    {"js", "text/javascript; charset=utf-8"},
    {"json", "application/json; charset=utf-8"},
    {"jsonld", "application/ld+json"},
    {"jxl", "image/jxl"},
    {"log", "text/plain; charset=utf-8"},
    {"m3u8", "application/vnd.apple.mpegurl"},
    {"m4a", "audio/mp4"},
    {"m4v", "video/mp4"},
    {"map", "application/json; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"mid", "audio/midi"},
    {"midi", "audio/midi"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"mkv", "video/x-matroska"},
    {"mov", "video/quicktime"},
    {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"},
    {"mpeg", "video/mpeg"},
    {"mpg", "video/mpeg"},
    {"oga", "audio/ogg"},
    {"ogg", "audio/ogg"},
    {"ogv", "video/ogg"},
    {"opus", "audio/ogg"},
    {"otf", "font/otf"},
    {"pdf", "application/pdf"},
    {"png", "image/png"},
    {"ppt", "application/vnd.ms-powerpoint"},
    {"pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
    {"rar", "application/vnd.rar"},
    {"rss", "application/rss+xml"},
    {"rtf", "application/rtf"},
    {"svg", "image/svg+xml"},
    {"tar", "application/x-tar"},
    {"text", "text/plain; charset=utf-8"},
    {"tgz", "application/gzip"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
    {"toml", "application/toml"},
    {"ts", "video/mp2t"},
    {"tsv", "text/tab-separated-values; charset=utf-8"},
    {"ttf", "font/ttf"},
    {"txt", "text/plain; charset=utf-8"},
    {"vtt", "text/vtt; charset=utf-8"},
    {"wasm", "application/wasm"},
    {"wav", "audio/wav"},
    {"weba", "audio/webm"},
    {"webm", "video/webm"},
    {"webmanifest", "application/manifest+json"},
    {"webp", "image/webp"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"xhtml", "application/xhtml+xml"},
    {"xls", "application/vnd.ms-excel"},
    {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    {"xml", "application/xml; charset=utf-8"},
    {"xsl", "application/xslt+xml"},
    {"xz", "application/x-xz"},
    {"yaml", "application/yaml"},
    {"yml", "application/yaml"},
    {"zip", "application/zip"},
    {"zst", "application/zstd"},
};

#define MIME_COUNT        (sizeof(mime_table) / sizeof(mime_table[0]))
#define MIME_EXT_MAX      16
#define MIME_DEFAULT_TYPE "application/octet-stream"

const char *mime_type_for(const char *filename, size_t len)
{
    size_t dot = len;
    for (size_t i = len; i > 0; i--) {
        char c = filename[i - 1];
        if (c == '/') break;
        if (c == '.') {
            dot = i - 1;
            break;
        }
    }
    /* no extension, an empty one, or a dot file such as ".htaccess" */
    if (dot == len || dot == 0 || filename[dot - 1] == '/') return MIME_DEFAULT_TYPE;
    size_t n = len - dot - 1;
    if (n == 0 || n >= MIME_EXT_MAX) return MIME_DEFAULT_TYPE;
    char ext[MIME_EXT_MAX];
    for (size_t i = 0; i < n; i++)
        ext[i] = ascii_lower(filename[dot + 1 + i]);
    ext[n] = '\0';

    size_t lo = 0, hi = MIME_COUNT;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ext, mime_table[mid].ext);
        if (c == 0) return mime_table[mid].type;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return MIME_DEFAULT_TYPE;
}

/* s starts with prefix, ASCII case-insensitively. */
static bool has_prefix(str_t s, const char *prefix)
{
    size_t n = strlen(prefix);
    return s.len >= n && str_eq_nocase(str_make(s.p, n), str_make(prefix, n));
}

static bool has_suffix(str_t s, const char *suffix)
{
    size_t n = strlen(suffix);
    return s.len >= n && str_eq_nocase(str_make(s.p + s.len - n, n), str_make(suffix, n));
}

bool mime_is_compressible(const char *content_type)
{
    if (!content_type) return false;
    size_t n = 0;
    while (content_type[n] && content_type[n] != ';')
        n++;
    str_t t = str_trim_ows(str_make(content_type, n));
    static const char *const exact[] = {
        "application/javascript",
        "application/json",
        "application/xml",
        "application/wasm",
        "application/x-javascript",
        "application/toml",
        "application/yaml",
        "application/rtf",
        "application/x-sh",
        "application/vnd.ms-fontobject",
        "image/x-icon",
        "image/vnd.microsoft.icon",
        "image/bmp",
        "font/ttf",
        "font/otf",
        "application/x-tar",
        "application/vnd.apple.mpegurl",
    };
    if (has_prefix(t, "text/") || has_suffix(t, "+xml") || has_suffix(t, "+json")) return true;
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
        if (str_eq_nocase(t, str_cstr(exact[i]))) return true;
    return false;
}

bool mime_table_sorted(void)
{
    for (size_t i = 1; i < MIME_COUNT; i++)
        if (strcmp(mime_table[i - 1].ext, mime_table[i].ext) >= 0) return false;
    return true;
}
