/*
 * Pseudo-random numbers for the unit tests: xorshift64 (shifts 13, 7, 17), so a test draws the
 * same sequence on every run and machine. Each test keeps its own state, seeded with any non-zero
 * value; the state is also the last number drawn.
 */
#pragma once

#include <stdint.h>

static inline uint64_t test_random(uint64_t *state) {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        return *state;
}
