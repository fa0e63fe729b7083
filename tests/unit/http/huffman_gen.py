#!/usr/bin/python3
# Prints the Huffman code table of src/http/huffman.c (RFC 7541 Appendix B) from the code
# lengths; `check` compares it with python3-hpack's copy instead. Run with /usr/bin/python3.
# Generates the HPACK Huffman code table (RFC 7541 Appendix B) from the code lengths.
# The RFC's code is canonical: codes of each length are consecutive, assigned in symbol order.
L = []
L += [13, 23] + [28]*7 + [24, 30, 28, 28, 30] + [28]*8 + [30] + [28]*9          # 0..31
L += [6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6]                  # 32..47
L += [5, 5, 5] + [6]*7 + [7, 8, 15, 6, 12, 10]                                 # 48..63
L += [13, 6] + [7]*22 + [8, 7, 8, 13, 19, 13, 14, 6]                           # 64..95
L += [15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5]                         # 96..111
L += [6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28]                     # 112..127
L += [20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23]          # 128..143
L += [24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24]          # 144..159
L += [22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23]          # 160..175
L += [21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23]          # 176..191
L += [26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25]          # 192..207
L += [19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27]          # 208..223
L += [20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23]          # 224..239
L += [26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26]          # 240..255
L += [30]                                                                      # EOS
assert len(L) == 257
# Kraft equality: a complete prefix code
from fractions import Fraction
assert sum(Fraction(1, 2**l) for l in L) == 1
codes = [0]*257
code = 0
prev = 0
for l, s in sorted((l, s) for s, l in enumerate(L)):
    code <<= (l - prev)
    codes[s] = code
    code += 1
    prev = l
# spot checks against the RFC's printed hex
for s, h in [(0, 0x1ff8), (1, 0x7fffd8), (10, 0x3ffffffc), (32, 0x14), (48, 0), (97, 3),
             (127, 0xffffffc), (128, 0xfffe6), (199, 0x1ffffec), (255, 0x3ffffee), (256, 0x3fffffff),
             (92, 0x7fff0), (203, 0x7ffffde), (230, 0x1fffe8), (254, 0x7fffff0)]:
    assert codes[s] == h, (s, hex(codes[s]), hex(h))
import sys
if len(sys.argv) > 1 and sys.argv[1] == 'check':
    sys.path.insert(0, '/usr/lib/python3/dist-packages')
    from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH
    assert list(REQUEST_CODES) == codes and list(REQUEST_CODES_LENGTH) == L
    print("matches python-hpack")
    sys.exit(0)
out = []
out.append("static const uint32_t huff_code[257] = {")
for i in range(0, 257, 8):
    out.append("    " + " ".join("0x%x," % c for c in codes[i:i+8]))
out.append("};")
out.append("static const uint8_t huff_len[257] = {")
for i in range(0, 257, 16):
    out.append("    " + " ".join("%d," % c for c in L[i:i+16]))
out.append("};")
print("\n".join(out))
