/*
 * jwt: HS256 JSON Web Token verification and constant-time secret comparison
 * for the sync API's Authorization header.
 *
 * Only alg "HS256" is accepted (never "none", HS384/512, RS*, ...); a header
 * with "crit" is refused. The token is three strict base64url parts (no
 * padding, canonical trailing bits), at most JWT_MAX_TOKEN bytes. The
 * signature is checked (constant time) before the payload is parsed. The
 * payload must be a JSON object (nesting at most JWT_MAX_DEPTH); "exp" is
 * required and must be a number > now - JWT_LEEWAY_SECONDS; "nbf", when
 * present, a number <= now + JWT_LEEWAY_SECONDS (clock skew between the
 * issuer and us).
 *
 * Pure: no allocation kept, no global state; claims are fixed-size arrays
 * owned by the caller.
 */
#ifndef IVS_JWT_H
#define IVS_JWT_H

#include <stddef.h>
#include <time.h>

#define JWT_MAX_TOKEN      8192
#define JWT_MAX_DEPTH      16
#define JWT_ROLE_MAX       63
#define JWT_SUB_MAX        255
#define JWT_LEEWAY_SECONDS 60

struct jwt_claims {
    char role[JWT_ROLE_MAX + 1];     /* top-level "role"; "" when absent */
    char app_role[JWT_ROLE_MAX + 1]; /* "app_metadata"."role" (object only); "" when absent */
    char sub[JWT_SUB_MAX + 1];       /* "sub"; "" when absent */
    int has_exp;
    double exp; /* seconds since the epoch, when has_exp */
};

/*
 * Verify token[0..len) (need not be NUL-terminated; a NUL inside is an error)
 * with the HMAC key secret[0..secret_len) (empty secret: always an error) at
 * time now. Returns 0 and fills *out when the token is valid; -1 with a short
 * message in err (errlen bytes, may be 0) and *out zeroed otherwise, e.g.
 * "exp claim missing", "token expired", "token not yet valid", "bad signature", "alg must be
 * HS256", "malformed token: ...". Claims that are present but of the wrong type
 * ("role": 1) or too long are errors, not silently dropped. The messages
 * never contain token or secret bytes.
 */
int jwt_verify_hs256(const char *token, size_t len, const char *secret, size_t secret_len,
                     time_t now, struct jwt_claims *out, char *err, size_t errlen);

/*
 * 1 when the verified claims grant admin: role == "service_role" or
 * app_metadata.role == "admin" (exact, case-sensitive). user_metadata never
 * counts. NULL -> 0.
 */
int jwt_is_admin(const struct jwt_claims *c);

/*
 * Constant-time equality of two secrets (e.g. a bearer token against the
 * service key): both are HMAC-SHA256'd under a fresh random key and the
 * digests compared with CRYPTO_memcmp, so the time does not depend on where
 * the contents differ, and a length mismatch is decided without an early exit
 * on content. Returns 1 when equal, 0 otherwise; 0 when either side is empty
 * or NULL (an unset secret never matches) or when randomness is unavailable
 * (fails closed). Time still grows with the lengths, which reveals nothing
 * about the content.
 */
int jwt_secret_equal(const char *a, size_t alen, const char *b, size_t blen);

#endif
