/* http/mime: extension table lookup and compressibility. */
#include <string.h>

#include "check.h"
#include "http/mime.h"

static const char *type(const char *name)
{
    return mime_type_for(name, strlen(name));
}

int main(void)
{
    CHECK(mime_table_sorted());
    CHECK_STR(type("index.html"), "text/html; charset=utf-8");
    CHECK_STR(type("INDEX.HTM"), "text/html; charset=utf-8");
    CHECK_STR(type("/www/style.css"), "text/css; charset=utf-8");
    CHECK_STR(type("app.js"), "text/javascript; charset=utf-8");
    CHECK_STR(type("mod.mjs"), "text/javascript; charset=utf-8");
    CHECK_STR(type("data.json"), "application/json; charset=utf-8");
    CHECK_STR(type("feed.xml"), "application/xml; charset=utf-8");
    CHECK_STR(type("a.txt"), "text/plain; charset=utf-8");
    CHECK_STR(type("README.md"), "text/markdown; charset=utf-8");
    CHECK_STR(type("t.csv"), "text/csv; charset=utf-8");
    CHECK_STR(type("logo.svg"), "image/svg+xml");
    CHECK_STR(type("a.png"), "image/png");
    CHECK_STR(type("a.JPG"), "image/jpeg");
    CHECK_STR(type("a.jpeg"), "image/jpeg");
    CHECK_STR(type("a.gif"), "image/gif");
    CHECK_STR(type("a.webp"), "image/webp");
    CHECK_STR(type("a.avif"), "image/avif");
    CHECK_STR(type("favicon.ico"), "image/x-icon");
    CHECK_STR(type("f.woff2"), "font/woff2");
    CHECK_STR(type("f.woff"), "font/woff");
    CHECK_STR(type("f.ttf"), "font/ttf");
    CHECK_STR(type("v.mp4"), "video/mp4");
    CHECK_STR(type("v.webm"), "video/webm");
    CHECK_STR(type("a.mp3"), "audio/mpeg");
    CHECK_STR(type("d.pdf"), "application/pdf");
    CHECK_STR(type("d.zip"), "application/zip");
    CHECK_STR(type("d.tar.gz"), "application/gzip");
    CHECK_STR(type("d.zst"), "application/zstd");
    CHECK_STR(type("m.wasm"), "application/wasm");
    CHECK_STR(type("site.webmanifest"), "application/manifest+json");
    CHECK_STR(type("a.7z"), "application/x-7z-compressed");
    CHECK_STR(type("a.3gp"), "video/3gpp");
    CHECK_STR(type("a.zzz"), "application/octet-stream");
    CHECK_STR(type("Makefile"), "application/octet-stream");
    CHECK_STR(type(".htaccess"), "application/octet-stream");
    CHECK_STR(type("dir/.html"), "application/octet-stream");
    CHECK_STR(type("dir.html/file"), "application/octet-stream");
    CHECK_STR(type("file."), "application/octet-stream");
    CHECK_STR(type(""), "application/octet-stream");
    CHECK_STR(type("a.averyveryverylongextension"), "application/octet-stream");
    CHECK_STR(mime_type_for("a.html.gz", 6), "text/html; charset=utf-8"); /* len respected */

    CHECK(mime_is_compressible("text/html; charset=utf-8"));
    CHECK(mime_is_compressible("text/plain"));
    CHECK(mime_is_compressible("TEXT/CSS"));
    CHECK(mime_is_compressible("application/json; charset=utf-8"));
    CHECK(mime_is_compressible("application/javascript"));
    CHECK(mime_is_compressible("image/svg+xml"));
    CHECK(mime_is_compressible("application/manifest+json"));
    CHECK(mime_is_compressible("application/wasm"));
    CHECK(mime_is_compressible("application/xml"));
    CHECK(mime_is_compressible(type("x.ico")));
    CHECK(!mime_is_compressible("image/png"));
    CHECK(!mime_is_compressible("image/jpeg"));
    CHECK(!mime_is_compressible("application/gzip"));
    CHECK(!mime_is_compressible("application/zip"));
    CHECK(!mime_is_compressible("font/woff2"));
    CHECK(!mime_is_compressible("video/mp4"));
    CHECK(!mime_is_compressible("application/octet-stream"));
    CHECK(!mime_is_compressible(""));
    CHECK(!mime_is_compressible(NULL));
    return check_done("http/mime");
}
