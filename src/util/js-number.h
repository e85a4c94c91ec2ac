/*
 * A double written as JavaScript's Number.prototype.toString writes it (what JSON.stringify and so
 * Zigbee2MQTT print): the shortest digit string that reads back to the same double, laid out fixed
 * for 1e-7 < |v| < 1e21, with an exponent ("1e-7", "1.5e+21") otherwise; -0 is "0".
 *
 * Most numbers a plug publishes are integers or have a few decimals: those are written with integer
 * arithmetic only (no printf, no strtod), the rest by trying widths with printf and strtod.
 */
#pragma once

#include <stddef.h>

#define JS_NUMBER_MAX 32        /* longest output with its NUL: "-1.2345678901234567e-308" */

/* Writes v into buf (JS_NUMBER_MAX bytes are always enough). Returns the length, -EDOM for NaN or
 * an infinity (JSON has no such number), -ENOBUFS if size is too small, -EINVAL without a buffer. */
int js_number_format(double v, char *buf, size_t size);
