/*
 * round() without libm. Linking libm only for round() mapped ~300 KiB of it into every lumiplugd
 * process (resident, counted in its RSS); these are the only rounding lumiplugd does on doubles.
 */
#pragma once

#include <stdint.h>

/* Nearest whole number, halves away from zero (as round(); JavaScript's Math.round for x >= 0). */
static inline double round_half_away(double x) {
        double t;

        if (x < 0)
                return -round_half_away(-x);
        if (!(x < 4503599627370496.0))         /* 2^52 and above: already whole (or inf, NaN) */
                return x;
        t = (double) (uint64_t) x;              /* exact below 2^52, and so is x - t */
        return x - t >= 0.5 ? t + 1.0 : t;
}
