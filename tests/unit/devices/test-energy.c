/* Drop detection of the monotonic energy counter (src/devices/energy.c) on sequences with noise. */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>

#include "devices/energy.h"
#include "util/macro.h"

static bool near(double a, double b) {
        return fabs(a - b) < 1e-9;
}

/* Feeds a sequence; returns the number of drops; every total must be >= the one before. */
static unsigned feed(EnergyTracker *t, const double *v, size_t n, double *ret_total) {
        double last = -1;
        unsigned drops = 0;

        for (size_t i = 0; i < n; i++) {
                EnergyStep s;

                assert(energy_track(t, v[i], &s) == 0);
                assert(s.total >= last);
                last = s.total;
                drops += s.dropped;
        }
        *ret_total = last;
        return drops;
}

static void test_rising_counter_is_passed_through(void) {
        static const double v[] = { 13.4297, 13.4297, 13.43, 13.5, 14.0 };
        EnergyTracker t = {};
        double total;

        assert(feed(&t, v, ELEMENTSOF(v), &total) == 0);
        assert(near(total, 14.0) && near(t.offset, 0));
}

static void test_rounding_noise_is_not_a_drop(void) {
        /* float32 last bits and re-reads wobble around the true value: the total holds */
        static const double v[] = { 7.25, 7.2499995, 7.25, 7.2449, 7.251, 7.2495, 7.26 };
        EnergyTracker t = {};
        EnergyStep s;
        double total;

        assert(feed(&t, v, ELEMENTSOF(v), &total) == 0);
        assert(near(total, 7.26) && near(t.offset, 0));
        /* just inside the tolerance below the mark: held at the mark, not counted again */
        assert(energy_track(&t, 7.26 - energy_tolerance(7.26) + 1e-6, &s) == 0);
        assert(!s.dropped && !s.changed && near(s.total, 7.26));
}

static void test_reset_to_zero_keeps_counting(void) {
        /* 13.43 kWh, the firmware update zeroes the counter, the plug goes on counting */
        static const double v[] = { 13.40, 13.43, 0.0, 0.0001, 0.02, 0.5 };
        EnergyTracker t = {};
        double total;

        assert(feed(&t, v, ELEMENTSOF(v), &total) == 1);
        assert(near(t.offset, 13.43));
        assert(near(total, 13.93));
}

static void test_reset_with_noise_around_it(void) {
        /* noise before and after a reset, and a second reset later */
        static const double v[] = { 2.0, 1.9999, 2.0001, 0.0002, 0.0001, 0.0003, 1.0, 0.9995, 0.0, 0.25 };
        EnergyTracker t = {};
        double total;

        assert(feed(&t, v, ELEMENTSOF(v), &total) == 2);
        assert(near(t.offset, 2.0001 + 1.0));
        assert(near(total, 2.0001 + 1.0 + 0.25));
}

static void test_partial_drop_counts_from_zero(void) {
        /* a counter that fell to 3.0 (not 0): reset, and 3.0 counted since */
        static const double v[] = { 10.0, 3.0 };
        EnergyTracker t = {};
        double total;

        assert(feed(&t, v, ELEMENTSOF(v), &total) == 1);
        assert(near(total, 13.0));
}

static void test_tolerance_scales_with_big_counters(void) {
        /* 50000 kWh in a float32 is good to ~0.004 kWh: a step of that size is noise */
        EnergyTracker t = {};
        EnergyStep s;

        assert(energy_tolerance(0) >= ENERGY_NOISE_KWH);
        assert(energy_tolerance(50000) > 0.05);
        assert(energy_track(&t, 50000.0, &s) == 0 && s.changed && !s.dropped);
        assert(energy_track(&t, 50000.0 - 0.0039, &s) == 0 && !s.dropped && near(s.total, 50000.0));
        assert(energy_track(&t, 40000.0, &s) == 0 && s.dropped && near(s.total, 90000.0));
}

static void test_restored_tracker_detects_a_drop_that_happened_while_down(void) {
        /* saved: offset 5, mark 2.5; the daemon was down while the counter restarted */
        EnergyTracker t = { .known = true, .offset = 5, .last_device = 2.5 };
        EnergyStep s;

        assert(near(energy_total(&t), 7.5));
        assert(energy_track(&t, 0.3, &s) == 0);
        assert(s.dropped && s.changed && near(s.previous_device, 2.5) && near(s.total, 7.8));
        /* the same value again (a re-read after a restart that saved the step): nothing changes */
        assert(energy_track(&t, 0.3, &s) == 0 && !s.changed && near(s.total, 7.8));
}

static void test_bad_values_change_nothing(void) {
        EnergyTracker t = {};
        EnergyStep s;

        assert(energy_track(&t, 1.0, &s) == 0);
        assert(energy_track(&t, NAN, &s) == -EINVAL);
        assert(energy_track(&t, INFINITY, &s) == -EINVAL);
        assert(energy_track(&t, -0.5, &s) == -EINVAL);
        assert(energy_track(NULL, 1.0, &s) == -EINVAL);
        assert(t.known && near(t.last_device, 1.0) && near(t.offset, 0));
        /* a damaged record (NaN from a bad file) starts over instead of poisoning the total */
        t.offset = NAN;
        assert(energy_track(&t, 2.0, &s) == 0 && near(s.total, 2.0));
}

int main(void) {
        test_rising_counter_is_passed_through();
        test_rounding_noise_is_not_a_drop();
        test_reset_to_zero_keeps_counting();
        test_reset_with_noise_around_it();
        test_partial_drop_counts_from_zero();
        test_tolerance_scales_with_big_counters();
        test_restored_tracker_detects_a_drop_that_happened_while_down();
        test_bad_values_change_nothing();
        printf("ok\n");
        return 0;
}
