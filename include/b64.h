/*
 * b64: strict base64 decoding (RFC 4648), so that every byte string has
 * exactly one accepted encoding.
 *
 *   B64_STD  section 4 alphabet (+ /), padded: length a multiple of 4, '='
 *            only as the final one or two characters (SNS signatures, PEM)
 *   B64_URL  section 5 alphabet (- _), unpadded: no '=', length not 1 mod 4
 *            (JWT parts)
 *
 * Both: no whitespace, nothing outside the alphabet, and the unused bits of
 * the last character zero. Pure: no allocation, no global state.
 */
#ifndef IVS_B64_H
#define IVS_B64_H

#include <stddef.h>

enum b64_alphabet {
    B64_STD,
    B64_URL,
};

/* The 6-bit value of character c in alphabet a, or -1 ('=' is -1 too). */
int b64_value(enum b64_alphabet a, unsigned char c);

/* An upper bound of the decoded size of n input characters. */
size_t b64_decoded_max(size_t n);

/*
 * Decode in[0..n) into out (cap bytes). Returns 0 and *outlen, or -1 when the
 * input is not strict base64 of alphabet a or the result does not fit in cap.
 * An empty input decodes to 0 bytes.
 */
int b64_decode(enum b64_alphabet a, const char *in, size_t n, unsigned char *out, size_t cap,
               size_t *outlen);

#endif
