/*
 * JavaScript's Math.round for doubles, without libm.
 *
 * round(), floor() and ceil() from <math.h> are not inlined on baseline x86-64 and would make the
 * daemon load libm.so (about 300 KiB of resident pages for a few functions, tests/bench/REPORT.md).
 */
#pragma once

#include <math.h>
#include <stdint.h>

/* Math.round: halves go up (-2.5 -> -2), NaN, infinities and integral values are returned as they are. */
static inline double js_math_round(double x) {
        double r;

        if (!isfinite(x) || fabs(x) >= 4503599627370496.0)     /* 2^52: already an integer */
                return x;
        r = (double) (int64_t) x;       /* truncated toward zero, exact below 2^52 */
        if (r > x)
                r -= 1;                 /* floor for negative non-integers */
        /* x - floor(x) is exact here */
        return (x - r >= 0.5) ? r + 1 : r;
}
