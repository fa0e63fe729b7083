#include "h1/upgrade.h"

#include "http/header.h"

#define MAX_PROTOCOLS 8

static const struct h1_upgrade_protocol *protocols[MAX_PROTOCOLS];
static size_t n_protocols;

int h1_upgrade_register(const struct h1_upgrade_protocol *proto)
{
    if (n_protocols >= MAX_PROTOCOLS) return -1;
    protocols[n_protocols++] = proto;
    return 0;
}

const struct h1_upgrade_protocol *h1_upgrade_find(str_t value)
{
    /* Upgrade = #protocol, in the client's order of preference (RFC 9110 §7.8) */
    size_t pos = 0;
    str_t elem;
    while (http_list_next(value, &pos, &elem))
        for (size_t i = 0; i < n_protocols; i++)
            if (str_eq_nocase(elem, str_cstr(protocols[i]->token))) return protocols[i];
    return NULL;
}
