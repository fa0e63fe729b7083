#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "server/config.h"

int cli_check(int argc, char **argv)
{
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc)
            file = argv[++i];
        else {
            fprintf(stderr, "tern check: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!file) {
        fprintf(stderr, "usage: tern check -c FILE\n");
        return 2;
    }
    char err[1024];
    struct config *cfg = config_load_file(file, err, sizeof(err));
    if (!cfg) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    config_free(cfg);
    printf("configuration ok\n");
    return 0;
}
