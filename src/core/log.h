/* Error log with levels and the access log. Both are files opened O_APPEND (one write per line,
 * so worker threads need no lock), stdout/stderr, or off. USR1 calls log_reopen(). */
#ifndef TERN_CORE_LOG_H
#define TERN_CORE_LOG_H

#include <stddef.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* "error", "warn", "info", "debug" -> level, or -1. */
int log_level_parse(const char *name);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* path: a file, "stderr" (default) or "off". Returns 0 or -1 (errno set). */
int log_open_error(const char *path);
/* path: a file, "stdout", or "off" (default). Returns 0 or -1. */
int log_open_access(const char *path);
/* Reopens both files at their configured paths (after rotation). */
void log_reopen(void);
/* True when an access log is open (callers skip formatting otherwise). */
int log_access_enabled(void);
/* Writes one already-formatted access log line (with its trailing newline). */
void log_access_write(const char *line, size_t len);
/* Access logs of servers of their own: slot 0 is the top-level log, 1.. the servers'. */
#define LOG_ACCESS_SLOTS 32
/* The slot of the access log at path (a file or "stdout"), opened the first time a path is
 * named and kept open (reopened by log_reopen); -1 for "off"; -2 with errno when it cannot be
 * opened or all slots are taken. From one thread (the main one). */
int log_open_access_slot(const char *path);
/* Writes to slot's log (slot 0: the top-level one). */
void log_access_write_slot(int slot, const char *line, size_t len);

/* Names the process in every error-log line after the level ("[info] http3: ..."); set once,
 * before threads start. "" for none (the default). */
void log_set_process_tag(const char *tag);
/* Writes one error-log line. Each call site (format string) writes at most 10 lines a second
 * per thread; the rest are counted and summed up in one line after their second. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes the summaries of suppressed lines whose second is over (call once per loop turn). */
void log_flush_suppressed(void);
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
