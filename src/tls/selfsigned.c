/* A self-signed ECDSA P-256 certificate for local use (`make run`): one year, SAN localhost,
 * 127.0.0.1 and ::1 (RFC 5280 section 4.2.1.6), key file mode 0600. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tls/internal.h"
#include "tls/tls.h"

#define VALIDITY_SECONDS (365L * 24 * 3600)

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (errlen) vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    ERR_clear_error();
    return -1;
}

static int add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, v3, nid, value);
    if (!ext) return -1;
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

/* A host name safe to put in the SAN list (no separators): letters, digits, '-', '.', '*'. */
static bool dns_name_ok(const char *s)
{
    if (!*s || strlen(s) > 253) return false;
    bool alpha = false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!letter && !(c >= '0' && c <= '9') && c != '-' && c != '.' && c != '*') return false;
        alpha |= letter;
    }
    return alpha; /* an IP address is not a DNS name */
}

static X509 *make_cert(EVP_PKEY *key, const char *cn)
{
    X509 *x = X509_new();
    BIGNUM *serial = BN_new();
    X509_NAME *name = X509_NAME_new();
    char san[300];
    X509V3_CTX v3;
    bool ok = x && serial && name && X509_set_version(x, X509_VERSION_3) &&
              BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) &&
              BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) &&
              X509_gmtime_adj(X509_getm_notBefore(x), 0) &&
              X509_gmtime_adj(X509_getm_notAfter(x), VALIDITY_SECONDS) && X509_set_pubkey(x, key) &&
              X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
                                         -1, 0) &&
              X509_set_subject_name(x, name) && X509_set_issuer_name(x, name);
    if (ok) {
        snprintf(san, sizeof(san), "DNS:localhost,IP:127.0.0.1,IP:::1%s%s",
                 dns_name_ok(cn) && strcmp(cn, "localhost") != 0 ? ",DNS:" : "",
                 dns_name_ok(cn) && strcmp(cn, "localhost") != 0 ? cn : "");
        X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
        ok = add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
             add_ext(x, &v3, NID_key_usage, "critical,digitalSignature") == 0 &&
             add_ext(x, &v3, NID_ext_key_usage, "serverAuth") == 0 &&
             add_ext(x, &v3, NID_subject_key_identifier, "hash") == 0 &&
             add_ext(x, &v3, NID_subject_alt_name, san) == 0 && X509_sign(x, key, EVP_sha256());
    }
    BN_free(serial);
    X509_NAME_free(name);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

/* Writes a PEM file through a temporary sibling renamed into place. */
static int write_pem(const char *path, mode_t mode, EVP_PKEY *key, X509 *x, char *err,
                     size_t errlen)
{
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return fail(err, errlen, "cannot write %s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return fail(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(tmp);
        return fail(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
    }
    bool ok =
        fchmod(fd, mode) == 0 &&
        (key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) : PEM_write_X509(f, x));
    ok = (fflush(f) == 0) && ok;
    int saved = errno;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) < 0) {
        if (ok) saved = errno;
        unlink(tmp);
        return fail(err, errlen, "cannot write %s: %s", path, strerror(saved ? saved : EIO));
    }
    return 0;
}

int tls_generate_self_signed(const char *cert_path, const char *key_path, const char *common_name,
                             char *err, size_t errlen)
{
    ERR_clear_error();
    EVP_PKEY *key = EVP_EC_gen("P-256");
    if (!key) return fail(err, errlen, "cannot generate a P-256 key: %s", tls_err_reason());
    X509 *x = make_cert(key, common_name);
    if (!x) {
        fail(err, errlen, "cannot make a certificate: %s", tls_err_reason());
        EVP_PKEY_free(key);
        return -1;
    }
    int r = write_pem(key_path, 0600, key, NULL, err, errlen);
    if (r == 0) r = write_pem(cert_path, 0644, NULL, x, err, errlen);
    X509_free(x);
    EVP_PKEY_free(key);
    return r;
}
