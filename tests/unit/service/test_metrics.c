#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "../metrics_value.h"
#include "../unit_main.h"

static int teardown(void **state)
{
	(void)state;
	metrics_reset();
	return 0;
}

static void test_counter_and_labels(void **state)
{
	(void)state;
	metrics_declare("parley_x_total", METRIC_COUNTER, "X things.");
	metrics_add("parley_x_total", "kind=\"a\"", 1);
	metrics_add("parley_x_total", "kind=\"a\"", 2);
	metrics_add("parley_x_total", "kind=\"b\"", 1);
	assert_true(metrics_value("parley_x_total", "kind=\"a\"") == 3);
	char *text = metrics_render();
	assert_non_null(
	    strstr(text, "# HELP parley_x_total X things.\n# TYPE parley_x_total counter\n"));
	assert_non_null(strstr(text, "parley_x_total{kind=\"a\"} 3\n"));
	assert_non_null(strstr(text, "parley_x_total{kind=\"b\"} 1\n"));
	free(text);
}

static void test_gauge_without_labels(void **state)
{
	(void)state;
	metrics_declare("parley_g", METRIC_GAUGE, "G.");
	metrics_set("parley_g", NULL, 5);
	metrics_set("parley_g", NULL, 2);
	char *text = metrics_render();
	assert_non_null(strstr(text, "# TYPE parley_g gauge\nparley_g 2\n"));
	free(text);
}

static void test_histogram_buckets_cumulative(void **state)
{
	(void)state;
	metrics_declare("parley_h_seconds", METRIC_HISTOGRAM, "H.");
	metrics_observe("parley_h_seconds", "t=\"x\"", 0.0005);
	metrics_observe("parley_h_seconds", "t=\"x\"", 0.02);
	metrics_observe("parley_h_seconds", "t=\"x\"", 100);
	char *text = metrics_render();
	assert_non_null(strstr(text, "parley_h_seconds_bucket{t=\"x\",le=\"0.001\"} 1\n"));
	assert_non_null(strstr(text, "parley_h_seconds_bucket{t=\"x\",le=\"0.025\"} 2\n"));
	assert_non_null(strstr(text, "parley_h_seconds_bucket{t=\"x\",le=\"30\"} 2\n"));
	assert_non_null(strstr(text, "parley_h_seconds_bucket{t=\"x\",le=\"+Inf\"} 3\n"));
	assert_non_null(strstr(text, "parley_h_seconds_count{t=\"x\"} 3\n"));
	assert_non_null(strstr(text, "parley_h_seconds_sum{t=\"x\"} 100.0205"));
	free(text);
}

static void test_declare_twice_is_harmless(void **state)
{
	(void)state;
	metrics_declare("parley_y_total", METRIC_COUNTER, "Y.");
	metrics_declare("parley_y_total", METRIC_COUNTER, "Y.");
	char *text = metrics_render();
	const char *first = strstr(text, "# HELP parley_y_total");
	assert_non_null(first);
	assert_null(strstr(first + 1, "# HELP parley_y_total"));
	free(text);
}

static void test_touch_exposes_zero_and_keeps_values(void **state)
{
	(void)state;
	metrics_declare("parley_z_total", METRIC_COUNTER, "Z.");
	metrics_declare("parley_z_seconds", METRIC_HISTOGRAM, "Z.");
	metrics_touch("parley_z_total", "outcome=\"failed\"");
	metrics_touch("parley_z_seconds", "");
	char *text = metrics_render();
	assert_non_null(strstr(text, "parley_z_total{outcome=\"failed\"} 0\n"));
	assert_non_null(strstr(text, "parley_z_seconds_bucket{le=\"+Inf\"} 0\n"));
	assert_non_null(strstr(text, "parley_z_seconds_count 0\n"));
	free(text);
	metrics_add("parley_z_total", "outcome=\"failed\"", 2);
	metrics_touch("parley_z_total", "outcome=\"failed\"");
	text = metrics_render();
	assert_non_null(strstr(text, "parley_z_total{outcome=\"failed\"} 2\n"));
	free(text);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_teardown(test_counter_and_labels, teardown),
    cmocka_unit_test_teardown(test_gauge_without_labels, teardown),
    cmocka_unit_test_teardown(test_histogram_buckets_cumulative, teardown),
    cmocka_unit_test_teardown(test_declare_twice_is_harmless, teardown),
    cmocka_unit_test_teardown(test_touch_exposes_zero_and_keeps_values, teardown),
};
UNIT_MAIN(tests)
