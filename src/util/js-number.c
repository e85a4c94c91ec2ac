/*
 * JavaScript's number to string; see js-number.h.
 *
 * Fast path, exact by construction: an integer below 2^53 is printed with integer code. Otherwise
 * for d = 1..6 fractional digits (while |v| * 10^d < 1e15) take m = round(|v| * 10^d); m and 10^d
 * are exact doubles and IEEE division is correctly rounded, so m / 10^d == |v| holds exactly when the
 * decimal m * 10^-d reads back (strtod) as |v|. Decimals of at most 15 significant digits map to
 * distinct doubles, so at the first such d no other string of that length reads back: it is the
 * shortest, as JavaScript's. Everything else (more digits, tiny or huge magnitudes, subnormals)
 * goes through the general path: the shortest of the %.*e widths that reads back.
 */
#include <errno.h>
#include <float.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/js-number.h"

static const double powers_of_ten[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6 };
static const uint64_t int_powers_of_ten[] = { 1, 10, 100, 1000, 10000, 100000, 1000000 };

/* Decimal digits of x, most significant first; returns how many. */
static size_t write_u64(uint64_t x, char *out) {
        char tmp[24];
        size_t n = 0;

        do {
                tmp[n++] = (char) ('0' + x % 10);
                x /= 10;
        } while (x);
        for (size_t i = 0; i < n; i++)
                out[i] = tmp[n - 1 - i];
        return n;
}

/* The fast path; 0 when it does not apply. */
static size_t format_short(double v, bool neg, char *out) {
        size_t o = 0;

        if (neg)
                out[o++] = '-';
        if (v < 9007199254740992.0 && v == (double) (uint64_t) v)       /* an integer below 2^53 */
                return o + write_u64((uint64_t) v, out + o);
        for (size_t d = 1; d < sizeof(powers_of_ten) / sizeof(powers_of_ten[0]); d++) {
                double scaled = v * powers_of_ten[d];
                uint64_t m, ip, fp;

                if (!(scaled < 1e15))
                        break;
                m = (uint64_t) (scaled + 0.5);
                if ((double) m / powers_of_ten[d] != v)
                        continue;
                ip = m / int_powers_of_ten[d];
                fp = m % int_powers_of_ten[d];
                o += write_u64(ip, out + o);
                out[o++] = '.';
                for (size_t i = d; i > 0; i--) {        /* d digits, leading zeros kept */
                        out[o + i - 1] = (char) ('0' + fp % 10);
                        fp /= 10;
                }
                return o + d;
        }
        return 0;
}

/* Shortest %.*e that reads back, then JavaScript's layout of those digits. */
static size_t format_general(double a, bool neg, char *out) {
        char tmp[40], digits[24];
        int exp10, n, k = 0;
        size_t o = 0;

        /* When some k <= 15 digits read back, the 15-digit rounding is those digits followed by
         * zeros (a normal double's half-ulp is below half a unit of the 15th digit), stripped
         * below; so 15, 16, 17 are the only widths to try. Subnormals try every width. */
        for (int p = a < DBL_MIN ? 1 : 15; p <= 17; p++) {
                snprintf(tmp, sizeof(tmp), "%.*e", p - 1, a);
                if (strtod(tmp, NULL) == a)
                        break;
        }
        for (const char *c = tmp; *c && *c != 'e'; c++)
                if (*c >= '0' && *c <= '9')
                        digits[k++] = *c;
        while (k > 1 && digits[k - 1] == '0')
                k--;
        exp10 = atoi(strchr(tmp, 'e') + 1);
        n = exp10 + 1;          /* position of the decimal point relative to the digits */

        if (neg)
                out[o++] = '-';
        if (k <= n && n <= 21) {
                memcpy(out + o, digits, (size_t) k);
                o += (size_t) k;
                for (int i = 0; i < n - k; i++)
                        out[o++] = '0';
        } else if (0 < n && n <= 21) {
                memcpy(out + o, digits, (size_t) n);
                o += (size_t) n;
                out[o++] = '.';
                memcpy(out + o, digits + n, (size_t) (k - n));
                o += (size_t) (k - n);
        } else if (-6 < n && n <= 0) {
                out[o++] = '0';
                out[o++] = '.';
                for (int i = 0; i < -n; i++)
                        out[o++] = '0';
                memcpy(out + o, digits, (size_t) k);
                o += (size_t) k;
        } else {
                int e = n - 1;

                out[o++] = digits[0];
                if (k > 1) {
                        out[o++] = '.';
                        memcpy(out + o, digits + 1, (size_t) (k - 1));
                        o += (size_t) (k - 1);
                }
                out[o++] = 'e';
                out[o++] = e >= 0 ? '+' : '-';
                o += write_u64((uint64_t) (e >= 0 ? e : -e), out + o);
        }
        return o;
}

int js_number_format(double v, char *buf, size_t size) {
        char out[64];
        size_t o;
        bool neg;

        if (!buf || size == 0)
                return -EINVAL;
        if (v != v || v > DBL_MAX || v < -DBL_MAX)
                return -EDOM;
        if (v == 0) {
                out[0] = '0';
                o = 1;
        } else {
                neg = v < 0;
                o = format_short(neg ? -v : v, neg, out);
                if (o == 0)
                        o = format_general(neg ? -v : v, neg, out);
        }
        if (o + 1 > size)
                return -ENOBUFS;
        memcpy(buf, out, o);
        buf[o] = 0;
        return (int) o;
}
