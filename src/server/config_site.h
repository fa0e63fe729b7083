/* Parsers of the site rules (config_site.c), private to src/server/config*.c. */
#ifndef TERN_SERVER_CONFIG_SITE_H
#define TERN_SERVER_CONFIG_SITE_H

#include "server/config_internal.h"

int cfg_headers(struct loader *L, const struct cnode *v, struct config_headers *h);
int cfg_hsts(struct loader *L, const struct cnode *v, struct config_hsts *hsts);
int cfg_error_pages(struct loader *L, const struct cnode *v, struct config_error_page **out,
                    size_t *n);
/* `redirect: {to: TEMPLATE, status: 301}` (status 302 when not given). */
/* Templates may use {1}..{captures} (a regex location's groups). */
int cfg_redirect(struct loader *L, const struct cnode *v, int captures, char **to, int *status);
int cfg_try_files(struct loader *L, const struct cnode *v, int captures, char ***out, size_t *n);
/* `rewrite: TEMPLATE`: the path the request is routed with instead. */
int cfg_rewrite(struct loader *L, const struct cnode *v, int captures, char **to);
void config_site_free_location(struct config_location *loc);
void config_site_free_server(struct config_server *srv);

#endif
