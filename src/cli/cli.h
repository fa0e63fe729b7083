/* The subcommands behind main(). Each returns the process exit status. */
#ifndef TERN_CLI_CLI_H
#define TERN_CLI_CLI_H

int cli_serve(int argc, char **argv);
int cli_check(int argc, char **argv);
/* `tern get URL...`: fetches URLs with curl's options and exit codes. */
int cli_get(int argc, char **argv);
/* `tern bench URL`: an HTTP load generator (h2load's and wrk's habits). */
int cli_bench(int argc, char **argv);
/* `tern -V`: one "name: yes|no" line per build feature. */
void cli_print_features(void);

#endif
