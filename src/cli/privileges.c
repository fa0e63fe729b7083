#include "cli/privileges.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

int privileges_drop(const char *user)
{
    if (geteuid() != 0) {
        if (getuid() != 0)
            log_warn("user %s: not started as root; serving as uid %d", user, (int)geteuid());
        return 0;
    }
    char name[256], buf[4096];
    snprintf(name, sizeof(name), "%s", user);
    char *group = strchr(name, ':');
    if (group) *group++ = '\0';
    struct passwd pw, *p = NULL;
    int rc = getpwnam_r(name, &pw, buf, sizeof(buf), &p);
    if (!p) {
        log_error("user %s: %s", name, rc ? strerror(rc) : "no such user");
        return -1;
    }
    gid_t gid = p->pw_gid;
    if (group) {
        struct group gr, *g = NULL;
        char gbuf[4096];
        rc = getgrnam_r(group, &gr, gbuf, sizeof(gbuf), &g);
        if (!g) {
            log_error("user %s: group %s: %s", user, group, rc ? strerror(rc) : "no such group");
            return -1;
        }
        gid = g->gr_gid;
    }
    /* glibc applies these to every thread of the process (POSIX semantics) */
    if (initgroups(p->pw_name, gid) < 0 || setgid(gid) < 0 || setuid(p->pw_uid) < 0) {
        log_error("user %s: cannot switch: %s", user, strerror(errno));
        return -1;
    }
    if (setuid(0) == 0) { /* must not be able to come back */
        log_error("user %s: could regain root after switching", user);
        return -1;
    }
    log_info("serving as user %s (uid %d, gid %d)", p->pw_name, (int)p->pw_uid, (int)gid);
    return 0;
}
