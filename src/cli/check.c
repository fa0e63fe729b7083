#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/privileges.h"
#include "server/config.h"
#include "server/server.h"
#include "tls/tls.h"

/* What `tern serve` would find wrong past the configuration itself: certificates and keys that
 * cannot be read or do not match, an unknown user.
 * 0, or -1 with the reason printed. */
static int check_resources(const char *file, const struct config *cfg)
{
    char err[1024];
    if (server_config_has_tls(cfg) || cfg->tls.cert.cert_file) {
        struct tls_server *tls = tls_server_create(cfg, err, sizeof(err));
        if (!tls) {
            fprintf(stderr, "%s: TLS: %s\n", file, err);
            return -1;
        }
        tls_server_free(tls);
    }
    uid_t uid;
    gid_t gid;
    if (cfg->user && privileges_lookup(cfg->user, &uid, &gid, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s: %s\n", file, err);
        return -1;
    }
    return 0;
}

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
    int rc = check_resources(file, cfg);
    config_free(cfg);
    if (rc < 0) return 1;
    printf("configuration ok\n");
    return 0;
}
