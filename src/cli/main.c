/* main.c - the higgs-bench program: dispatches to one subcommand from a table. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

typedef struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"run", cmd_run, "run the benchmark suite (unified vs separate engines)"},
    {"report", cmd_report, "rebuild every report from saved results"},
    {"compare", cmd_compare, "compare two saved results (regression check)"},
    {"build-engine", cmd_build_engine, "build engine directories from a preset or checkpoint"},
    {"generate", cmd_generate, "generate with one engine or a separate pair (JSON out)"},
    {"stats", cmd_stats, "describe a sample, or compare a baseline with a candidate"},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fprintf(out, "usage: higgs-bench <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'higgs-bench <command> --help' describes one command.\n");
}

int hb_cli_error(const char *msg)
{
    fprintf(stderr, "error: %s\n", msg);
    return HB_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return HB_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return HB_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("higgs-bench %s\n", HB_VERSION);
        return HB_EXIT_OK;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "error: '%s' is not a higgs-bench command\n", argv[1]);
    usage(stderr);
    return HB_EXIT_USAGE;
}
