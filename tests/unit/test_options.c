/* test_options.c - the declared option-table parser: values, ranges, lists, choices, errors. */
#include "hb_test.h"
#include "options.h"

static const char *const colours[] = {"red", "green", NULL};

typedef struct {
    bool flag;
    const char *name;
    double level;
    size_t runs;
    uint64_t seed;
    int colour;
    hb_size_list sizes;
    hb_string_list types;
    bool level_seen;
} args;

static hb_parse_result run(args *a, int argc, char **argv, char **pos, int *npos, hb_error *e)
{
    const hb_option opts[] = {
        {HB_OPT_FLAG, "verbose", NULL, "talk", &a->flag, NULL, 0, 0, false, false, NULL},
        {HB_OPT_STRING, "name", "N", "a name", &a->name, NULL, 0, 0, false, false, NULL},
        {HB_OPT_DOUBLE, "confidence-level", "X", "level", &a->level, NULL, 0, 1, true, true,
         &a->level_seen},
        {HB_OPT_SIZE, "num-runs", "N", "runs", &a->runs, NULL, 1, 1000, false, false, NULL},
        {HB_OPT_U64, "seed", "S", "seed", &a->seed, NULL, 0, 0, false, false, NULL},
        {HB_OPT_CHOICE, "colour", "C", "colour", &a->colour, colours, 0, 0, false, false, NULL},
        {HB_OPT_SIZE_LIST, "batch-sizes", "N", "sizes", &a->sizes, NULL, 1, 4096, false, false,
         NULL},
        {HB_OPT_STRING_LIST, "benchmark-types", "T", "types", &a->types, colours, 0, 0, false,
         false, NULL},
        HB_OPTIONS_END};
    return hb_options_parse(argc, argv, opts, pos, npos, e);
}

static void values_and_positionals(void)
{
    args a = {0};
    a.sizes.n = 1, a.sizes.v[0] = 99; /* a default that the option replaces */
    char *argv[] = {"file1", "--verbose", "--name=x", "--confidence-level", "0.9",
                    "--num-runs", "50", "--seed", "18446744073709551615", "--colour", "green",
                    "--batch-sizes", "1", "2", "4,8", "--", "--not-an-option", "file2"};
    char *pos[20];
    int npos;
    hb_error e = {0};
    CHECK(run(&a, 18, argv, pos, &npos, &e) == HB_PARSE_OK);
    CHECK(a.flag && strcmp(a.name, "x") == 0 && a.level == 0.9 && a.runs == 50);
    CHECK(a.seed == 18446744073709551615ull && a.colour == 1 && a.level_seen);
    CHECK(a.sizes.n == 4 && a.sizes.v[0] == 1 && a.sizes.v[3] == 8);
    CHECK(npos == 3 && strcmp(pos[0], "file1") == 0 && strcmp(pos[1], "--not-an-option") == 0);
    /* a list takes every word up to the next option, so a stray word is a bad list value */
    char *swallow[] = {"--batch-sizes", "1", "file"};
    CHECK(run(&a, 3, swallow, pos, &npos, &e) == HB_PARSE_ERROR);
    CHECK_STR_CONTAINS(e.msg, "'file' is not a non-negative integer");
}

static void errors_name_the_value(void)
{
    args a = {0};
    char *pos[8];
    int npos;
    hb_error e = {0};
    char *bad_size[] = {"--batch-sizes", "0"};
    CHECK(run(&a, 2, bad_size, pos, &npos, &e) == HB_PARSE_ERROR);
    CHECK_STR_CONTAINS(e.msg, "--batch-sizes: '0' is not a positive integer");
    char *neg[] = {"--num-runs", "-3"};
    CHECK(run(&a, 2, neg, pos, &npos, &e) == HB_PARSE_ERROR);
    CHECK_STR_CONTAINS(e.msg, "'-3' is not a non-negative integer");
    char *range[] = {"--confidence-level", "1"};
    CHECK(run(&a, 2, range, pos, &npos, &e) == HB_PARSE_ERROR);
    CHECK_STR_CONTAINS(e.msg, "--confidence-level: 1 is outside (0, 1)");
    char *nan[] = {"--confidence-level=abc"};
    CHECK(run(&a, 1, nan, pos, &npos, &e) == HB_PARSE_ERROR);
    CHECK_STR_CONTAINS(e.msg, "'abc' is not a number");
    char *choice[] = {"--colour", "blue"};
    CHECK(run(&a, 2, choice, pos, &npos, &e) == HB_PARSE_ERROR);
    CHECK_STR_CONTAINS(e.msg, "'blue' is not one of: red, green");
    char *type[] = {"--benchmark-types", "red", "latencyy"};
    CHECK(run(&a, 3, type, pos, &npos, &e) == HB_PARSE_ERROR);
    CHECK_STR_CONTAINS(e.msg, "'latencyy'");
    char *unknown[] = {"--frobnicate"};
    CHECK(run(&a, 1, unknown, pos, &npos, &e) == HB_PARSE_ERROR);
    CHECK_STR_CONTAINS(e.msg, "unknown option '--frobnicate'");
    char *missing[] = {"--name"};
    CHECK(run(&a, 1, missing, pos, &npos, &e) == HB_PARSE_ERROR);
    CHECK_STR_CONTAINS(e.msg, "--name needs a value");
    char *empty_list[] = {"--batch-sizes", "--verbose"};
    CHECK(run(&a, 2, empty_list, pos, &npos, &e) == HB_PARSE_ERROR);
    char *flag_value[] = {"--verbose=yes"};
    CHECK(run(&a, 1, flag_value, pos, &npos, &e) == HB_PARSE_ERROR);
    char *shortopt[] = {"-v"};
    CHECK(run(&a, 1, shortopt, pos, &npos, &e) == HB_PARSE_ERROR);
    char *help[] = {"x", "--help"};
    CHECK(run(&a, 2, help, pos, &npos, &e) == HB_PARSE_HELP);
}

static void help_lists_every_option(void)
{
    args a = {0};
    const hb_option opts[] = {
        {HB_OPT_CHOICE, "colour", "C", "the colour", &a.colour, colours, 0, 0, false, false, NULL},
        {HB_OPT_SIZE_LIST, "batch-sizes", "N", "sizes", &a.sizes, NULL, 1, 9, false, false, NULL},
        HB_OPTIONS_END};
    char buf[2048] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    hb_options_help("prog [options]", "Does things.", opts, f);
    fclose(f);
    CHECK_STR_CONTAINS(buf, "usage: prog [options]");
    CHECK_STR_CONTAINS(buf, "--colour C");
    CHECK_STR_CONTAINS(buf, "(red|green)");
    CHECK_STR_CONTAINS(buf, "--batch-sizes N...");
    CHECK_STR_CONTAINS(buf, "--help");
}

HB_TEST_MAIN(T(values_and_positionals), T(errors_name_the_value), T(help_lists_every_option))
