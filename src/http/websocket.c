#include "http/websocket.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

/* RFC 6455 §1.3 */
static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

int websocket_key_new(char out[WEBSOCKET_KEY_LEN + 1])
{
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof(raw)) != 1) return -1;
    EVP_EncodeBlock((unsigned char *)out, raw, sizeof(raw)); /* 24 characters and a NUL */
    return 0;
}

bool websocket_accept_ok(const char *key, str_t accept)
{
    unsigned char in[WEBSOCKET_KEY_LEN + sizeof(guid)], md[EVP_MAX_MD_SIZE];
    size_t kl = strlen(key);
    if (kl != WEBSOCKET_KEY_LEN || accept.len != WEBSOCKET_ACCEPT_LEN) return false;
    memcpy(in, key, kl);
    memcpy(in + kl, guid, sizeof(guid) - 1);
    unsigned int mdl = 0;
    if (!EVP_Digest(in, kl + sizeof(guid) - 1, md, &mdl, EVP_sha1(), NULL) || mdl != 20)
        return false;
    unsigned char want[WEBSOCKET_ACCEPT_LEN + 1];
    EVP_EncodeBlock(want, md, mdl);
    return memcmp(want, accept.p, WEBSOCKET_ACCEPT_LEN) == 0;
}
