/* libFuzzer target: the YAML configuration loader must return a config or an error message for
 * any input, never crash or leak. Roots in the seeds point at "/" or "/tmp" so they exist. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "server/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    struct config *cfg =
        config_load_buffer("fuzz.yaml", (const char *)data, size, err, sizeof(err));
    if (cfg) {
        /* exercise routing on what was loaded */
        const struct config_server *srv = config_find_server(cfg, "a.example.org", 13);
        if (srv) {
            const struct config_location *loc = config_find_location(srv, "/downloads/x", 12);
            size_t n;
            if (loc) (void)config_location_subpath(loc, "/downloads/x", 12, &n);
        }
        config_free(cfg);
    } else {
        /* every error is "name:line: message" */
        if (strncmp(err, "fuzz.yaml:", 10) != 0) __builtin_trap();
    }
    return 0;
}
