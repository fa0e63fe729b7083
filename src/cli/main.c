#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: tern serve [DIR] [--listen ADDR:PORT]... [--tls-listen ADDR:PORT]...\n"
               "                  [--quic-listen ADDR:PORT]... [--cert FILE --key FILE]\n"
               "                  [--workers N]\n"
               "                  [--access-log PATH|stdout|off] [--error-log PATH|stderr]\n"
               "                  [-c FILE]\n"
               "       tern check -c FILE\n"
               "       tern get [options] URL...   (tern get --help)\n"
               "       tern bench URL [options]    (tern bench --help)\n"
               "       tern --version | -V | --help\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("tern %s\n", TERN_VERSION);
        return 0;
    }
    if (strcmp(cmd, "-V") == 0) {
        cli_print_features();
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "serve") == 0) return cli_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "check") == 0) return cli_check(argc - 1, argv + 1);
    if (strcmp(cmd, "get") == 0) return cli_get(argc - 1, argv + 1);
    if (strcmp(cmd, "bench") == 0) return cli_bench(argc - 1, argv + 1);
    fprintf(stderr, "tern: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
