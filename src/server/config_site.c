/* The site rules of servers and locations (issue #14): `headers`, `hsts`, `error_pages`,
 * `redirect`, `try_files`. Everything a request will expand or send is checked here, so a
 * mistake is a file:line error at load, never a bad response. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/header.h"
#include "http/template.h"
#include "server/config_internal.h"
#include "server/config_site.h"
#include "server/regex.h"

static bool field_name_ok(const char *s)
{
    if (!*s) return false;
    for (; *s; s++)
        if (!http_is_tchar((unsigned char)*s)) return false;
    return true;
}

/* RFC 9110 §5.5: no CR, LF or NUL (and no other control character but HTAB), no leading or
 * trailing whitespace. */
static bool field_value_ok(const char *s)
{
    size_t n = strlen(s);
    if (n && (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t')) return false;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) return false;
    }
    return true;
}

/* A mapping of field name -> value into an array. */
static int parse_fields(struct loader *L, const struct cnode *v, const char *key,
                        struct config_field **out, size_t *n)
{
    if (cfg_want_map(L, v, key) < 0) return -1;
    if (v->count / 2 > 64) return cfg_fail(L, v, "'%s' has more than 64 fields", key);
    *out = calloc(v->count / 2 + 1, sizeof(**out));
    if (!*out) return cfg_fail(L, v, "out of memory");
    for (const struct cnode *k = v->first; k; k = k->next->next) {
        const char *name, *value;
        if (cfg_text(L, k, key, &name) < 0 || cfg_text(L, k->next, name, &value) < 0) return -1;
        if (!field_name_ok(name))
            return cfg_fail(L, k, "'%s' is not a valid field name (RFC 9110 §5.1)", name);
        if (!field_value_ok(value))
            return cfg_fail(L, k->next,
                            "the value of '%s' has a control character or outer whitespace", name);
        struct config_field *f = &(*out)[(*n)++];
        if (!(f->name = strdup(name)) || !(f->value = strdup(value)))
            return cfg_fail(L, k, "out of memory");
    }
    return 0;
}

int cfg_headers(struct loader *L, const struct cnode *v, struct config_headers *h)
{
    static const char *const keys[] = {"set", "add", "remove", "always", NULL};
    enum { SET, ADD, REMOVE, ALWAYS, COUNT };
    const struct cnode *val[COUNT] = {0};
    uint64_t seen = 0;
    if (cfg_want_map(L, v, "headers") < 0) return -1;
    for (const struct cnode *k = v->first; k; k = k->next->next) {
        int i = cfg_key(L, k, keys, "headers", &seen);
        if (i < 0) return -1;
        val[i] = k->next;
    }
    if (val[SET] && parse_fields(L, val[SET], "set", &h->set, &h->n_set) < 0) return -1;
    if (val[ADD] && parse_fields(L, val[ADD], "add", &h->add, &h->n_add) < 0) return -1;
    if (val[REMOVE]) {
        if (cfg_strv(L, val[REMOVE], "remove", 64, &h->remove, &h->n_remove) < 0) return -1;
        for (size_t i = 0; i < h->n_remove; i++)
            if (!field_name_ok(h->remove[i]))
                return cfg_fail(L, val[REMOVE], "'%s' is not a valid field name", h->remove[i]);
    }
    if (val[ALWAYS] && cfg_bool(L, val[ALWAYS], "always", &h->always) < 0) return -1;
    return 0;
}

int cfg_hsts(struct loader *L, const struct cnode *v, struct config_hsts *hsts)
{
    static const char *const keys[] = {"max_age", "include_subdomains", "preload", NULL};
    enum { MAX_AGE, SUBDOMAINS, PRELOAD, COUNT };
    const struct cnode *val[COUNT] = {0};
    uint64_t seen = 0;
    if (cfg_want_map(L, v, "hsts") < 0) return -1;
    for (const struct cnode *k = v->first; k; k = k->next->next) {
        int i = cfg_key(L, k, keys, "hsts", &seen);
        if (i < 0) return -1;
        val[i] = k->next;
    }
    if (!val[MAX_AGE]) return cfg_fail(L, v, "'hsts' needs 'max_age' (seconds)");
    if (cfg_uint(L, val[MAX_AGE], "max_age", false, 1, UINT32_MAX, &hsts->max_age) < 0) return -1;
    if (val[SUBDOMAINS] &&
        cfg_bool(L, val[SUBDOMAINS], "include_subdomains", &hsts->include_subdomains) < 0)
        return -1;
    if (val[PRELOAD] && cfg_bool(L, val[PRELOAD], "preload", &hsts->preload) < 0) return -1;
    /* the browsers' preload lists take a site only with both (hstspreload.org) */
    if (hsts->preload && (!hsts->include_subdomains || hsts->max_age < 31536000))
        return cfg_fail(L, val[PRELOAD],
                        "'preload' needs 'include_subdomains: true' and a 'max_age' of at least "
                        "31536000 (one year)");
    char text[80];
    snprintf(text, sizeof(text), "max-age=%llu%s%s", (unsigned long long)hsts->max_age,
             hsts->include_subdomains ? "; includeSubDomains" : "",
             hsts->preload ? "; preload" : "");
    if (!(hsts->value = strdup(text))) return cfg_fail(L, val[MAX_AGE], "out of memory");
    return 0;
}

int cfg_error_pages(struct loader *L, const struct cnode *v, struct config_error_page **out,
                    size_t *n)
{
    if (cfg_want_map(L, v, "error_pages") < 0) return -1;
    *out = calloc(v->count / 2 + 1, sizeof(**out));
    if (!*out) return cfg_fail(L, v, "out of memory");
    for (const struct cnode *k = v->first; k; k = k->next->next) {
        uint64_t status;
        const char *path = NULL, *body = NULL;
        const struct cnode *pv = k->next;
        bool template = false;
        if (cfg_uint(L, k, "error_pages", false, 400, 599, &status) < 0) return -1;
        if (k->next->kind == CNODE_MAP) { /* {template: PATH} or {body: TEXT} */
            static const char *const keys[] = {"template", "body", NULL};
            uint64_t seen = 0;
            for (const struct cnode *ek = k->next->first; ek; ek = ek->next->next) {
                int i = cfg_key(L, ek, keys, "error page", &seen);
                if (i < 0) return -1;
                if (cfg_text(L, ek->next, keys[i], i == 0 ? &path : &body) < 0) return -1;
                pv = ek->next;
            }
            if (k->next->count != 2)
                return cfg_fail(L, k->next, "an error page is {template: PATH} or {body: TEXT}");
            template = true;
        } else if (cfg_text(L, k->next, "error page", &path) < 0) {
            return -1;
        }
        if (path && (path[0] != '/' || strchr(path, '?') || !field_value_ok(path)))
            return cfg_fail(L, pv, "an error page is a path starting with '/', not '%s'", path);
        if (body && (!*body || strlen(body) > 65536))
            return cfg_fail(L, pv, "an error page's body is 1 to 65536 bytes");
        for (size_t i = 0; i < *n; i++)
            if ((*out)[i].status == (int)status)
                return cfg_fail(L, k, "error page for %d given twice", (int)status);
        struct config_error_page *e = &(*out)[(*n)++];
        e->status = (int)status;
        e->template = template;
        if (path && !(e->path = strdup(path))) return cfg_fail(L, k, "out of memory");
        if (body && !(e->body = strdup(body))) return cfg_fail(L, k, "out of memory");
    }
    return 0;
}

static int check_template(struct loader *L, const struct cnode *v, const char *tpl, int captures)
{
    const char *why;
    if (template_check(tpl, captures, &why) < 0)
        return cfg_fail(L, v,
                        "'%s': %s (placeholders: {scheme} {host} {port} {path} {query} "
                        "{uri}, {1}..{9} with a regex)",
                        tpl, why);
    return 0;
}

int cfg_redirect(struct loader *L, const struct cnode *v, int captures, char **to, int *status)
{
    static const char *const keys[] = {"to", "status", NULL};
    const struct cnode *val[2] = {0};
    uint64_t seen = 0, st = 302;
    if (cfg_want_map(L, v, "redirect") < 0) return -1;
    for (const struct cnode *k = v->first; k; k = k->next->next) {
        int i = cfg_key(L, k, keys, "redirect", &seen);
        if (i < 0) return -1;
        val[i] = k->next;
    }
    if (!val[0]) return cfg_fail(L, v, "'redirect' needs 'to'");
    if (cfg_string(L, val[0], "to", to) < 0 || check_template(L, val[0], *to, captures) < 0)
        return -1;
    if (val[1] && cfg_uint(L, val[1], "status", false, 300, 308, &st) < 0) return -1;
    if (st != 301 && st != 302 && st != 303 && st != 307 && st != 308)
        return cfg_fail(L, val[1], "a redirect's status is 301, 302, 303, 307 or 308");
    *status = (int)st;
    return 0;
}

int cfg_try_files(struct loader *L, const struct cnode *v, int captures, char ***out, size_t *n)
{
    if (cfg_strv(L, v, "try_files", 16, out, n) < 0) return -1;
    for (size_t i = 0; i < *n; i++) {
        const char *s = (*out)[i];
        if (s[0] == '=') {
            char *end;
            long st = strtol(s + 1, &end, 10);
            if (i + 1 != *n || *end || st < 200 || st > 599)
                return cfg_fail(L, v, "'%s': a status (=404) comes last, from 200 to 599", s);
            continue;
        }
        if (s[0] != '/' && s[0] != '{')
            return cfg_fail(L, v,
                            "'%s': a candidate is a path starting with '/' or a "
                            "placeholder such as {path}",
                            s);
        if (check_template(L, v, s, captures) < 0) return -1;
    }
    if (*n == 0) return cfg_fail(L, v, "'try_files' is empty");
    return 0;
}

int cfg_rewrite(struct loader *L, const struct cnode *v, int captures, char **to)
{
    if (cfg_string(L, v, "rewrite", to) < 0 || check_template(L, v, *to, captures) < 0) return -1;
    if ((*to)[0] != '/' && (*to)[0] != '{')
        return cfg_fail(L, v, "'%s': a rewrite gives a path starting with '/'", *to);
    return 0;
}

static void headers_free(struct config_headers *h)
{
    for (size_t i = 0; i < h->n_set; i++)
        free(h->set[i].name), free(h->set[i].value);
    for (size_t i = 0; i < h->n_add; i++)
        free(h->add[i].name), free(h->add[i].value);
    for (size_t i = 0; i < h->n_remove; i++)
        free(h->remove[i]);
    free(h->set);
    free(h->add);
    free(h->remove);
}

static void error_pages_free(struct config_error_page *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].path);
        free(p[i].body);
    }
    free(p);
}

void config_site_free_location(struct config_location *loc)
{
    headers_free(&loc->headers);
    free(loc->redirect_to);
    free(loc->rewrite_to);
    regex_free(loc->regex);
    for (size_t i = 0; i < loc->n_try_files; i++)
        free(loc->try_files[i]);
    free(loc->try_files);
    error_pages_free(loc->error_pages, loc->n_error_pages);
}

void config_site_free_server(struct config_server *srv)
{
    headers_free(&srv->headers);
    error_pages_free(srv->error_pages, srv->n_error_pages);
    free(srv->hsts.value);
    config_access_log_free(srv->access);
}
