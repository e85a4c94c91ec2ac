/*
 * js_number_format() against a brute-force oracle written independently here: the shortest
 * %.*e precision (1..17) that strtod reads back, laid out by the rules of ECMAScript's
 * Number::toString (ECMA-262 6.1.6.1.20), over millions of values of every kind.
 */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/js-number.h"

/* Oracle: k digits s and exponent n such that the value is 0.s * 10^n, k minimal */
static void oracle(double v, char *out) {
        char tmp[64], s[32];
        int k = 0, n, e;

        if (v == 0) {
                strcpy(out, "0");
                return;
        }
        if (v < 0) {
                *out++ = '-';
                v = -v;
        }
        for (int p = 1; p <= 17; p++) {
                snprintf(tmp, sizeof(tmp), "%.*e", p - 1, v);
                if (strtod(tmp, NULL) == v)
                        break;
        }
        for (char *c = tmp; *c != 'e'; c++)
                if (*c != '.')
                        s[k++] = *c;
        while (k > 1 && s[k - 1] == '0')
                k--;
        s[k] = 0;
        e = atoi(strchr(tmp, 'e') + 1);
        n = e + 1;
        if (k <= n && n <= 21) {                /* digits, then n-k zeros */
                strcpy(out, s);
                memset(out + k, '0', (size_t) (n - k));
                out[n] = 0;
        }
        else if (0 < n && n <= 21)              /* digits with a point inside */
                sprintf(out, "%.*s.%s", n, s, s + n);
        else if (-6 < n && n <= 0) {            /* 0.000digits */
                strcpy(out, "0.");
                memset(out + 2, '0', (size_t) -n);
                strcpy(out + 2 - n, s);
        }
        else if (k == 1)
                sprintf(out, "%se%c%d", s, n - 1 < 0 ? '-' : '+', abs(n - 1));
        else
                sprintf(out, "%c.%se%c%d", s[0], s + 1, n - 1 < 0 ? '-' : '+', abs(n - 1));
}

static uint64_t state = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void) {     /* xorshift64* */
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        return state * 2685821657736338717u;
}

static unsigned long checked;

static void check(double v) {
        char got[JS_NUMBER_MAX], want[64];
        int r;

        if (!isfinite(v)) {
                assert(js_number_format(v, got, sizeof(got)) == -EDOM);
                return;
        }
        oracle(v, want);
        r = js_number_format(v, got, sizeof(got));
        if (r < 0 || strcmp(got, want) != 0 || (size_t) r != strlen(got)) {
                fprintf(stderr, "%.17g (%a): got '%s' (%d), want '%s'\n", v, v, got, r, want);
                abort();
        }
        checked++;
}

int main(int argc, char **argv) {
        static const double fixed[] = {
                0.0, -0.0, 1, -1, 0.1, 0.2, 0.3, 0.1 + 0.2, 1.5, 123.456, 230.5, 0.001, 1e-6, 1e-7,
                1.5e-7, 0.000001, 0.0000015, 1e21, 1e20, 123456789012345680000.0, 1e-5, 1e15, 1e16,
                1e15 + 0.5, 999999999999999.9, 9007199254740992.0, 9007199254740993.0, 4503599627370495.5,
                DBL_MAX, -DBL_MAX, DBL_MIN, DBL_TRUE_MIN, 5e-324, 2.2250738585072009e-308,
                1.7976931348623157e308, 0.5, 5e-7, 99.99999999999999, 9.999999999999999e22, 1e22,
                123e-20, 1.0 / 3, 2.0 / 3, 100, 1000000, 0.000123, 12345678.9, 1e300, 1e-300,
        };
        long n = argc > 1 ? atol(argv[1]) : 1000000;
        char buf[JS_NUMBER_MAX];

        for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
                check(fixed[i]);
                check(-fixed[i]);
        }
        assert(js_number_format(NAN, buf, sizeof(buf)) == -EDOM);
        assert(js_number_format(INFINITY, buf, sizeof(buf)) == -EDOM);
        assert(js_number_format(-INFINITY, buf, sizeof(buf)) == -EDOM);
        assert(js_number_format(1.5, NULL, 8) == -EINVAL);
        assert(js_number_format(1.5, buf, 3) == -ENOBUFS);
        assert(js_number_format(1.5, buf, 4) == 3 && strcmp(buf, "1.5") == 0);
        assert(js_number_format(-0.0, buf, sizeof(buf)) == 1 && strcmp(buf, "0") == 0);
        assert(js_number_format(1e-7, buf, sizeof(buf)) > 0 && strcmp(buf, "1e-7") == 0);
        assert(js_number_format(1e21, buf, sizeof(buf)) > 0 && strcmp(buf, "1e+21") == 0);
        assert(js_number_format(0.1 + 0.2, buf, sizeof(buf)) > 0 && strcmp(buf, "0.30000000000000004") == 0);
        assert(js_number_format(-DBL_MAX, buf, sizeof(buf)) > 0 && strcmp(buf, "-1.7976931348623157e+308") == 0);
        assert(js_number_format(5e-324, buf, sizeof(buf)) > 0 && strcmp(buf, "5e-324") == 0);

        for (long i = 0; i < n; i++) {
                uint64_t r = rnd();
                double v;

                switch (i % 6) {
                case 0: {       /* a decimal with 0..8 fractional digits, as a parser reads it */
                        char text[64];
                        int frac = (int) (r % 9);
                        uint64_t mant = rnd() % (uint64_t) pow(10, (double) (1 + (r >> 8) % 16));
                        snprintf(text, sizeof(text), "%s%" PRIu64 "e-%d", r & 1 << 4 ? "-" : "", mant, frac);
                        v = strtod(text, NULL);
                        break;
                }
                case 1: {       /* what plug_round gives: value * 10^p rounded, divided by 10^p */
                        int p = (int) (r % 7);
                        double x = (double) (int64_t) (rnd() % 2000000000000ull) - 1e12;
                        v = x / pow(10, p) / pow(10, (double) ((r >> 8) % 6));
                        break;
                }
                case 2:         /* any bit pattern */
                        memcpy(&v, &r, sizeof(v));
                        break;
                case 3:         /* integers of every size */
                        v = (double) (int64_t) (r >> (r % 64));
                        if (r & 1 << 7)
                                v = ldexp(v, (int) ((r >> 8) % 40));
                        break;
                case 4:         /* small magnitudes around the fixed/exponent border, subnormals */
                        v = ldexp((double) (r >> 11) / 9007199254740992.0, -(int) ((r >> 3) % 1080));
                        break;
                default:        /* uniform in [0, 10^k) */
                        v = (double) (r >> 11) / 9007199254740992.0 * pow(10, (double) (r % 24) - 8);
                        break;
                }
                check(v);
        }
        printf("%lu values agree with the oracle\n", checked);
        return 0;
}
