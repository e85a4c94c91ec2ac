/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Hexadecimal digits: the one decoder of a digit used by the IEEE address, network key and YAML
 * escape parsers. Not a number parser: callers check lengths and assemble the value themselves.
 */

/* 0..15 for 0-9, a-f, A-F; -1 for anything else */
static inline int hex_digit_value(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}
