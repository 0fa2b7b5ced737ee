/* test_samples.c - the sample reader: every format, column choice and every bad-input message. */
#include <stdio.h>
#include <stdlib.h>

#include "higgsbench/samples.h"
#include "hb_test.h"

static hb_status parse(const char *text, const char *column, hb_samples *s, hb_error *e)
{
    return hb_samples_parse(text, strlen(text), "in.csv", column, s, e);
}

static void plain_text(void)
{
    hb_samples s;
    CHECK(parse("# latencies\n1.5\n\n2.5\r\n  3e1 \n", NULL, &s, NULL) == HB_OK);
    CHECK(s.n == 3 && s.values[0] == 1.5 && s.values[2] == 30 && s.column == NULL);
    hb_samples_free(&s);
    CHECK(parse("1 2 3 4\n", NULL, &s, NULL) == HB_OK); /* one record: a list */
    CHECK(s.n == 4 && s.values[3] == 4);
    hb_samples_free(&s);
    CHECK(parse("\xEF\xBB\xBF" "7,8\n", NULL, &s, NULL) == HB_OK);
    CHECK(s.n == 2 && s.values[0] == 7);
    hb_samples_free(&s);
}

static void csv_columns(void)
{
    const char *csv = "run,\"latency ms\",mem\n1,10.5,100\n2,11.5,101\n3,12.5,102\n";
    hb_samples s;
    hb_error e = {0};
    CHECK(parse(csv, "latency ms", &s, &e) == HB_OK);
    CHECK(s.n == 3 && s.values[1] == 11.5 && strcmp(s.column, "latency ms") == 0);
    hb_samples_free(&s);
    CHECK(parse(csv, "3", &s, &e) == HB_OK);
    CHECK(s.n == 3 && s.values[2] == 102 && strcmp(s.column, "mem") == 0);
    hb_samples_free(&s);
    CHECK(parse(csv, NULL, &s, &e) == HB_ERR_INVALID);
    CHECK_STR_CONTAINS(e.msg, "3 columns");
    CHECK_STR_CONTAINS(e.msg, "--column");
    CHECK(parse(csv, "latency", &s, &e) == HB_ERR_INVALID);
    CHECK_STR_CONTAINS(e.msg, "no column 'latency'");
    CHECK_STR_CONTAINS(e.msg, "'latency ms'");
    CHECK(parse("1\t2\n3\t4\n", "2", &s, &e) == HB_OK); /* tabs, headerless, by index */
    CHECK(s.n == 2 && s.values[1] == 4);
    hb_samples_free(&s);
}

static void bad_cells(void)
{
    hb_samples s;
    hb_error e = {0};
    CHECK(parse("x\n1\n2\nabc\n", NULL, &s, &e) == HB_ERR_PARSE);
    CHECK_STR_CONTAINS(e.msg, "in.csv:4");
    CHECK_STR_CONTAINS(e.msg, "'abc' is not a number");
    CHECK(parse("1\n2\nnan\n", NULL, &s, &e) == HB_ERR_PARSE);
    CHECK_STR_CONTAINS(e.msg, "in.csv:3");
    CHECK_STR_CONTAINS(e.msg, "not a finite number");
    CHECK(parse("1\ninf\n", NULL, &s, &e) == HB_ERR_PARSE);
    CHECK(parse("a,b\n1,2\n3,\n", "b", &s, &e) == HB_ERR_PARSE); /* empty cell */
    CHECK_STR_CONTAINS(e.msg, "in.csv:3");
    CHECK(parse("a,b\n1,2\n3\n", "a", &s, &e) == HB_ERR_PARSE); /* ragged */
    CHECK_STR_CONTAINS(e.msg, "1 cell where the first record has 2");
    CHECK(parse("", NULL, &s, &e) == HB_ERR_DATA);
    CHECK_STR_CONTAINS(e.msg, "empty");
    CHECK(parse("  \n\n", NULL, &s, &e) == HB_ERR_DATA);
    CHECK(parse("latency_ms\n", NULL, &s, &e) == HB_ERR_DATA);
    CHECK_STR_CONTAINS(e.msg, "no samples");
    CHECK(parse("# only a comment\nlat\n# x\n", NULL, &s, &e) == HB_ERR_DATA);
    CHECK(hb_samples_parse("1\n\0002\n", 5, "bin", NULL, &s, &e) == HB_ERR_PARSE);
    CHECK_STR_CONTAINS(e.msg, "NUL");
}

static void json_forms(void)
{
    hb_samples s;
    hb_error e = {0};
    CHECK(parse("[1, 2.5, 3]", NULL, &s, &e) == HB_OK);
    CHECK(s.n == 3 && s.values[1] == 2.5);
    hb_samples_free(&s);
    CHECK(parse("{\"samples\": [4, 5]}", NULL, &s, &e) == HB_OK);
    CHECK(s.n == 2 && s.values[1] == 5);
    hb_samples_free(&s);
    const char *doc = "{\"series\": [{\"id\": \"a/latency\", \"samples\": [1, 2]},"
                      " {\"id\": \"b/latency\", \"samples\": [3, 4, 5]}]}";
    CHECK(parse(doc, "b/latency", &s, &e) == HB_OK);
    CHECK(s.n == 3 && strcmp(s.column, "b/latency") == 0);
    hb_samples_free(&s);
    CHECK(parse(doc, NULL, &s, &e) == HB_ERR_INVALID);
    CHECK_STR_CONTAINS(e.msg, "'a/latency'");
    CHECK(parse(doc, "c", &s, &e) == HB_ERR_INVALID);
    CHECK_STR_CONTAINS(e.msg, "no series 'c'");
    CHECK(parse("[1, \"x\"]", NULL, &s, &e) == HB_ERR_PARSE);
    CHECK_STR_CONTAINS(e.msg, "[1] is not a number");
    CHECK(parse("{\"samples\": [1,", NULL, &s, &e) == HB_ERR_PARSE);
    CHECK_STR_CONTAINS(e.msg, "invalid JSON");
    CHECK(parse("{\"other\": 1}", NULL, &s, &e) == HB_ERR_PARSE);
    CHECK(parse("[]", NULL, &s, &e) == HB_ERR_DATA);
}

static void files(void)
{
    hb_samples s;
    hb_error e = {0};
    CHECK(hb_samples_read_file("/nonexistent/x.csv", NULL, &s, &e) == HB_ERR_IO);
    CHECK_STR_CONTAINS(e.msg, "/nonexistent/x.csv");
    char path[] = "/tmp/hb_samples_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "w");
    for (int i = 0; i < 100000; i++) fprintf(f, "%d\n", i); /* larger than the first read */
    fclose(f);
    CHECK(hb_samples_read_file(path, NULL, &s, &e) == HB_OK);
    CHECK(s.n == 100000 && s.values[99999] == 99999);
    hb_samples_free(&s);
    remove(path);
}

HB_TEST_MAIN(T(plain_text), T(csv_columns), T(bad_cells), T(json_forms), T(files))
