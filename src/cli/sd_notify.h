/* systemd's readiness protocol (sd_notify(3)), written directly: a datagram of KEY=VALUE lines
 * to the AF_UNIX socket NOTIFY_SOCKET names. Without that variable every call does nothing. */
#ifndef TERN_CLI_SD_NOTIFY_H
#define TERN_CLI_SD_NOTIFY_H

/* Takes NOTIFY_SOCKET from the environment (and removes it, so children do not notify). */
void sd_notify_init(void);
/* Sends msg ("READY=1", "RELOADING=1", "STOPPING=1", "STATUS=..."; several separated by \n).
 * Failures are logged once. */
void sd_notify_send(const char *msg);
/* RELOADING=1 with MONOTONIC_USEC, as Type=notify-reload services send it (systemd 253+; older
 * systemd ignores the fields it does not know). */
void sd_notify_reloading(void);

#endif
