/* HTTP dates (RFC 9110 §5.6.7): IMF-fixdate, obsolete RFC 850 and asctime formats. */
#ifndef TERN_HTTP_DATE_H
#define TERN_HTTP_DATE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define HTTP_DATE_LEN 29 /* "Sun, 06 Nov 1994 08:49:37 GMT" */

/* Writes the IMF-fixdate of t and a NUL into out[30]. */
void http_date_format(time_t t, char out[HTTP_DATE_LEN + 1]);
/* Parses any of the three formats (RFC 850 two-digit years per RFC 9110 §5.6.7: more than 50
 * years in the future means the past century). Returns false on anything malformed.
 * Strict: exact layout, case-sensitive names, "GMT", day valid for its month, hour < 24,
 * second <= 60 (a leap second reads as :59). The weekday must be a valid name but
 * is not checked against the date. Only surrounding SP/HTAB is skipped. */
bool http_date_parse(const char *s, size_t len, time_t *out);

#endif
