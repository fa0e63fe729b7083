/* Reads a YAML document into a small tree with line numbers (libyaml's event API). Only the
 * plain data subset is accepted: anchors and aliases are refused (the billion-laughs defence),
 * as are tags, a second document and deep nesting. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "server/config_internal.h"

struct tree_ctx {
    struct pool *pool;
    const char *name;
    char *err;
    size_t errlen;
    struct cnode *stack[CONFIG_MAX_DEPTH];
    size_t depth;
    struct cnode *root;
    int documents;
};

static int tree_fail(struct tree_ctx *t, size_t line0, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int tree_fail(struct tree_ctx *t, size_t line0, const char *fmt, ...)
{
    if (!t->errlen) return -1;
    int n = snprintf(t->err, t->errlen, "%s:%zu: ", t->name, line0 + 1);
    if (n >= 0 && (size_t)n < t->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(t->err + n, t->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void cnode_append(struct cnode *parent, struct cnode *n)
{
    n->next = NULL;
    if (parent->last)
        parent->last->next = n;
    else
        parent->first = n;
    parent->last = n;
    parent->count++;
}

/* Creates a node at event ev and links it under the innermost open collection. */
static struct cnode *tree_add(struct tree_ctx *t, enum cnode_kind kind, const yaml_event_t *ev)
{
    struct cnode *n = pool_calloc(t->pool, sizeof(*n));
    if (!n) return NULL;
    n->kind = kind;
    n->line = (int)(ev->start_mark.line + 1);
    if (t->depth == 0) {
        t->root = n;
        return n;
    }
    cnode_append(t->stack[t->depth - 1], n);
    return n;
}

static int tree_event(struct tree_ctx *t, const yaml_event_t *ev)
{
    size_t line0 = ev->start_mark.line;
    const yaml_char_t *anchor = NULL, *tag = NULL;
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++t->documents > 1) return tree_fail(t, line0, "only one YAML document is allowed");
        return 0;
    case YAML_ALIAS_EVENT: return tree_fail(t, line0, "YAML aliases are not allowed");
    case YAML_SCALAR_EVENT:
        anchor = ev->data.scalar.anchor;
        /* a tag is implicit unless written, whatever libyaml resolved it to */
        if (!ev->data.scalar.plain_implicit && !ev->data.scalar.quoted_implicit)
            tag = ev->data.scalar.tag;
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = ev->data.sequence_start.anchor;
        if (!ev->data.sequence_start.implicit) tag = ev->data.sequence_start.tag;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = ev->data.mapping_start.anchor;
        if (!ev->data.mapping_start.implicit) tag = ev->data.mapping_start.tag;
        break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (!t->depth) return 0;
        /* libyaml always pairs keys with values; the walkers rely on it, so make sure */
        if (t->stack[t->depth - 1]->kind == CNODE_MAP && t->stack[t->depth - 1]->count % 2)
            return tree_fail(t, line0, "mapping key without a value");
        t->depth--;
        return 0;
    default: /* stream start and end, document end */ return 0;
    }
    if (anchor) return tree_fail(t, line0, "YAML anchors are not allowed");
    if (tag) return tree_fail(t, line0, "YAML tags are not allowed");

    if (ev->type == YAML_SCALAR_EVENT) {
        struct cnode *n = tree_add(t, CNODE_SCALAR, ev);
        if (!n) return tree_fail(t, line0, "out of memory");
        n->len = ev->data.scalar.length;
        n->str = pool_strndup(t->pool, (const char *)ev->data.scalar.value, n->len);
        if (!n->str) return tree_fail(t, line0, "out of memory");
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        return 0;
    }
    if (t->depth >= CONFIG_MAX_DEPTH)
        return tree_fail(t, line0, "nesting deeper than %d levels", CONFIG_MAX_DEPTH);
    struct cnode *n = tree_add(t, ev->type == YAML_MAPPING_START_EVENT ? CNODE_MAP : CNODE_SEQ, ev);
    if (!n) return tree_fail(t, line0, "out of memory");
    t->stack[t->depth++] = n;
    return 0;
}

int config_tree_parse(struct pool *pool, const char *name, const char *data, size_t len,
                      struct cnode **root, char *err, size_t errlen)
{
    struct tree_ctx t = {.pool = pool, .name = name, .err = err, .errlen = errlen};
    if (errlen) err[0] = '\0';
    *root = NULL;
    if (len > CONFIG_MAX_FILE)
        return tree_fail(&t, 0, "configuration is larger than %d bytes", CONFIG_MAX_FILE);

    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return tree_fail(&t, 0, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    int rc = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            const char *problem = parser.problem ? parser.problem : "syntax error";
            if (parser.context)
                rc = tree_fail(&t, parser.problem_mark.line, "YAML: %s (%s)", problem,
                               parser.context);
            else
                rc = tree_fail(&t, parser.problem_mark.line, "YAML: %s", problem);
            break;
        }
        bool end = ev.type == YAML_STREAM_END_EVENT;
        rc = tree_event(&t, &ev);
        yaml_event_delete(&ev);
        if (rc < 0 || end) break;
    }
    yaml_parser_delete(&parser);
    if (rc == 0) *root = t.root;
    return rc;
}
