/* Fuzzes http_date_parse: an accepted date formats to an IMF-fixdate that parses back to the
 * same instant, and formatting any accepted instant gives exactly 29 bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/date.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    time_t t;
    if (!http_date_parse((const char *)data, size, &t)) return 0;
    char buf[HTTP_DATE_LEN + 1];
    http_date_format(t, buf);
    if (strlen(buf) != HTTP_DATE_LEN) abort();
    time_t back;
    if (!http_date_parse(buf, HTTP_DATE_LEN, &back) || back != t) abort();
    return 0;
}
