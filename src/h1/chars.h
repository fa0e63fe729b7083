/* Character classes shared by the HTTP/1 parsers (internal to src/h1/): one table lookup per
 * byte instead of a function call. */
#ifndef TERN_H1_CHARS_H
#define TERN_H1_CHARS_H

#include <stdint.h>

enum {
    H1_C_TCHAR = 0x01,  /* token character, RFC 9110 §5.6.2 */
    H1_C_VALUE = 0x02,  /* field-value octet: SP, HTAB, VCHAR, obs-text (RFC 9110 §5.5) */
    H1_C_VCHAR = 0x04,  /* visible ASCII 0x21-0x7E (request-target octets) */
    H1_C_HEX = 0x08,    /* HEXDIG */
    H1_C_QDTEXT = 0x10, /* qdtext, RFC 9110 §5.6.4 */
    H1_C_HOST = 0x20,   /* reg-name octet without '%': unreserved / sub-delims (RFC 3986) */
    H1_C_OBS = 0x40,    /* obs-text 0x80-0xFF */
};

/* Class bits for every octet. */
extern const uint8_t h1_char_class[256];

#endif
