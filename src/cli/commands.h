/* commands.h - the subcommands of higgs-bench, one cmd_<name>() each, wired in by main.c.
 *
 * Each takes the arguments after its own name and returns the process exit code:
 * 0 success, 1 a finding that CI should fail on (a regression, a failed claim), 2 a usage,
 * input or configuration error (already reported on stderr).
 */
#ifndef HB_CLI_COMMANDS_H
#define HB_CLI_COMMANDS_H

enum { HB_EXIT_OK = 0, HB_EXIT_FINDING = 1, HB_EXIT_USAGE = 2 };

int cmd_stats(int argc, char **argv);
int cmd_build_engine(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_compare(int argc, char **argv);

/* Prints "error: MSG" to stderr and returns HB_EXIT_USAGE. */
int hb_cli_error(const char *msg);

#endif
