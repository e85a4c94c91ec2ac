/*
 * round_half_away() (src/util/round.h, lumiplugd's round() without libm) against libm's round():
 * halves, values next to halves, large and tiny magnitudes, negatives, infinities and NaN.
 */
#undef NDEBUG
#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "util/round.h"
#include "../test-random.h"

static void check(double x) {
        double got = round_half_away(x), want = round(x);

        if (isnan(want) ? !isnan(got) : memcmp(&got, &want, sizeof(got)) != 0 && got != want) {
                fprintf(stderr, "round_half_away(%.17g) = %.17g, round() = %.17g\n", x, got, want);
                assert(!"differs from round()");
        }
}

int main(void) {
        static const double special[] = {
                0.0, -0.0, 0.5, -0.5, 1.5, 2.5, -2.5, 0.49999999999999994, -0.49999999999999994,
                4503599627370495.5, 4503599627370496.0, 9007199254740993.0, 1e300, -1e300,
                4.9e-324, 2.2250738585072014e-308, 99.995, 12345.5, INFINITY, -INFINITY, NAN,
        };
        uint64_t state = 88172645463325252ull;

        for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++) {
                check(special[i]);
                check(nextafter(special[i], INFINITY));
                check(nextafter(special[i], -INFINITY));
        }
        /* every half from -1000 to 1000 and its neighbours */
        for (int i = -2000; i <= 2000; i++) {
                double h = i / 2.0;
                check(h);
                check(nextafter(h, INFINITY));
                check(nextafter(h, -INFINITY));
        }
        /* random bit patterns (test_random()) and random values of the sizes OTA progress uses */
        for (int i = 0; i < 1000000; i++) {
                uint64_t r = test_random(&state);
                double d;

                memcpy(&d, &r, sizeof(d));
                check(d);
                check((double) (r % 100000000) / 1000.0);
        }
        return 0;
}
