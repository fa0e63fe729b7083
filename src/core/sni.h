/* Certificate choice by SNI host name (RFC 6066 §3), with the same rules as the virtual host
 * lookup (config_find_server): the exact name, then the longest "*.suffix" wildcard. The TCP
 * TLS side (src/tls) and QUIC (src/quic) both choose with it. */
#ifndef TERN_CORE_SNI_H
#define TERN_CORE_SNI_H

#include <stddef.h>
#include <stdint.h>

/* A server name and the certificate it selects (SIZE_MAX: the default certificate, kept so
 * that an exact name without a certificate of its own is not taken by a wildcard that has
 * one). */
struct sni_name {
    char *name; /* lower case; "*.suffix" for a wildcard */
    size_t len;
    size_t cert; /* index into the caller's certificates, or SIZE_MAX */
};

/* The certificate index for a host name (exact, then the longest "*.suffix" wildcard; case and
 * one trailing dot ignored); 0 (the default) when nothing matches. */
size_t sni_lookup(const struct sni_name *names, size_t n, const char *host, size_t len);

#endif
