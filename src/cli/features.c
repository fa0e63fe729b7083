#include <stdio.h>

#include "cli/cli.h"

#ifdef TERN_HAVE_QUIC
#define TERN_HTTP3 1
#else
#define TERN_HTTP3 0
#endif

void cli_print_features(void)
{
    static const struct {
        const char *name;
        int on;
    } features[] = {
        {"http09", 1},         {"http10", 1},   {"http11", 1}, {"gzip", 1}, {"brotli", 1},
        {"zstd", 1},           {"sendfile", 1}, {"yaml", 1},   {"tls", 1},  {"http2", 1},
        {"http3", TERN_HTTP3}, {"proxy", 0},    {"client", 0},
    };
    for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++)
        printf("%s: %s\n", features[i].name, features[i].on ? "yes" : "no");
}
