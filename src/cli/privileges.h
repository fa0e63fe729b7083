/* `user:` in the configuration: a tern started as root serves as that user once its listeners
 * are bound (ports below 1024 need root or CAP_NET_BIND_SERVICE only to bind). */
#ifndef TERN_CLI_PRIVILEGES_H
#define TERN_CLI_PRIVILEGES_H

#include <stddef.h>
#include <sys/types.h>

/* Looks user ("NAME" or "NAME:GROUP") up: 0 with its uid and gid (the group's when given), or
 * -1 with "user NAME: no such user" (or "... no such group GROUP") in err. */
int privileges_lookup(const char *user, uid_t *uid, gid_t *gid, char *err, size_t errlen);

/* Switches the whole process (every thread) to user ("NAME" or "NAME:GROUP"; the group defaults
 * to the user's own) with its supplementary groups. Does nothing, with a warning, when not
 * running as root. 0, or -1 with a log line saying why (the caller must not go on as root). */
int privileges_drop(const char *user);

#endif
