#include <stdio.h>

#include "cli/cli.h"

void cli_print_features(void)
{
    static const struct {
        const char *name;
        int on;
    } features[] = {
        {"http09", 1}, {"http10", 1},   {"http11", 1}, {"gzip", 1}, {"brotli", 1},
        {"zstd", 1},   {"sendfile", 1}, {"yaml", 1},   {"tls", 1},  {"http2", 1},
        {"http3", 0},  {"proxy", 0},    {"client", 0},
    };
    for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++)
        printf("%s: %s\n", features[i].name, features[i].on ? "yes" : "no");
}
