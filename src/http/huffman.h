/* The Huffman code of RFC 7541 Appendix B, shared by HPACK (RFC 7541 §5.2) and QPACK
 * (RFC 9204 §4.1.2). */
#ifndef TERN_HTTP_HUFFMAN_H
#define TERN_HTTP_HUFFMAN_H

#include <stddef.h>
#include <stdint.h>

/* Bytes the Huffman encoding of in takes (the last octet padded with ones). */
size_t http_huffman_encoded_len(const uint8_t *in, size_t len);
/* Encodes in into out (sized with http_huffman_encoded_len); returns bytes written. */
size_t http_huffman_encode(const uint8_t *in, size_t len, uint8_t *out);
/* Decodes into out; returns bytes written, or -1 on invalid input (EOS in the string, padding
 * longer than 7 bits or not all ones) or when out_cap is too small (len * 8 / 5 always fits). */
long http_huffman_decode(const uint8_t *in, size_t len, uint8_t *out, size_t out_cap);
/* Decoded length of a Huffman string, or -1 when invalid. */
long http_huffman_decoded_len(const uint8_t *in, size_t len);

#endif
