/* JA4 from arbitrary bytes taken as a ClientHello: never a read outside the input, and either
 * nothing or a fingerprint of exactly JA4_LEN characters. */
#include <stdint.h>
#include <string.h>

#include "tls/ja4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[JA4_LEN + 1];
    size_t n = ja4_from_client_hello('t', data, size, out);
    if (n != 0 && (n != JA4_LEN || strlen(out) != JA4_LEN)) __builtin_trap();
    if (n == 0 && out[0] != '\0') __builtin_trap();
    return 0;
}
