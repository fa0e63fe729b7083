#include "cli/privileges.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

int privileges_lookup(const char *user, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
    char name[256], buf[4096];
    snprintf(name, sizeof(name), "%s", user);
    char *group = strchr(name, ':');
    if (group) *group++ = '\0';
    struct passwd pw, *p = NULL;
    int rc = getpwnam_r(name, &pw, buf, sizeof(buf), &p);
    if (!p) {
        snprintf(err, errlen, "user %s: %s", name, rc ? strerror(rc) : "no such user");
        return -1;
    }
    *uid = p->pw_uid;
    *gid = p->pw_gid;
    if (group) {
        struct group gr, *g = NULL;
        char gbuf[4096];
        rc = getgrnam_r(group, &gr, gbuf, sizeof(gbuf), &g);
        if (!g) {
            snprintf(err, errlen, "user %s: %s%s", user, rc ? strerror(rc) : "no such group ",
                     rc ? "" : group);
            return -1;
        }
        *gid = g->gr_gid;
    }
    return 0;
}

int privileges_drop(const char *user)
{
    if (geteuid() != 0) {
        if (getuid() != 0)
            log_warn("user %s: not started as root; serving as uid %d", user, (int)geteuid());
        return 0;
    }
    char err[512], name[256];
    uid_t uid;
    gid_t gid;
    if (privileges_lookup(user, &uid, &gid, err, sizeof(err)) < 0) {
        log_error("%s", err);
        return -1;
    }
    snprintf(name, sizeof(name), "%s", user);
    name[strcspn(name, ":")] = '\0';
    /* glibc applies these to every thread of the process (POSIX semantics) */
    if (initgroups(name, gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
        log_error("user %s: cannot switch: %s", user, strerror(errno));
        return -1;
    }
    if (setuid(0) == 0) { /* must not be able to come back */
        log_error("user %s: could regain root after switching", user);
        return -1;
    }
    log_info("serving as user %s (uid %d, gid %d)", name, (int)uid, (int)gid);
    return 0;
}
