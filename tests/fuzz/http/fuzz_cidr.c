/* Fuzzes cidr_parse and ip_addr_parse: no crash on any input; an accepted prefix formats to
 * text that parses back to the same prefix and matches its own address; an address that
 * parses lies in its own host prefix and in "all". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/cidr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct cidr c, again;
    char text[64];
    enum cidr_result r = cidr_parse(s, size, &c);
    if (r == CIDR_OK || r == CIDR_HOST_BITS) {
        if (c.addr.family == IP_V4 ? c.bits > 32 : c.bits > 128) abort();
        cidr_format(&c, text, sizeof(text));
        if (cidr_parse(text, strlen(text), &again) != CIDR_OK) abort();
        if (memcmp(&again, &c, sizeof(c)) != 0) abort();
        if (!cidr_match(&c, &c.addr)) abort();
    }
    struct ip_addr a;
    if (ip_addr_parse(s, size, &a)) {
        struct cidr all = cidr_all();
        if (!cidr_match(&all, &a)) abort();
        if (a.family != IP_V4 && a.family != IP_V6) abort();
    }
    return 0;
}
