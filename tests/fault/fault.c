/* Fault injection for tern-fault: makes the Nth call of one kind fail inside the real server.
 *
 * tern-fault is linked from the same objects as tern plus this file, with
 * -Wl,--wrap=malloc,--wrap=open,... (see meson.build). The linker then sends every call that
 * tern's own objects make to one of those functions to __wrap_X here, and __real_X reaches the
 * real one. Calls made inside shared libraries (libc itself, OpenSSL, libyaml, zlib, brotli,
 * zstd, the sanitizer runtimes) are not redirected and not counted: we test tern's handling of
 * failures, not theirs. Link-time wrapping also works under ASan, whose malloc and read
 * interceptors an LD_PRELOAD shim would fight with.
 *
 * Control, by environment:
 *   TERN_FAULT=KIND:N        the Nth counted call of KIND fails, once (KIND: see kind_names)
 *   TERN_FAULT_COUNT=PATH    keep the per-kind counts live in the file PATH (a shared
 *                            mapping; layout at map_counts()), readable while tern runs
 *   TERN_FAULT_ARM=start     count from the start of the process instead of from the first
 *                            accepted connection
 * Counting starts (by default) after the first accept4() that returns a client, or the first
 * recvmmsg() that returns datagrams (QUIC): that call is not counted. With --workers 1 the count is
 * then deterministic for a given scenario. A failing call does not reach the real function; it
 * returns what that function returns on the failure named below, with that errno. */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/udp.h>

#include <openssl/ssl.h>
#ifdef TERN_HAVE_QUIC
#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#endif

enum fault_kind {
    FK_MALLOC,    /* malloc calloc realloc reallocarray strdup strndup posix_memalign
                   * OPENSSL_malloc: ENOMEM */
    FK_OPEN,      /* open openat openat2 (syscall) fopen (and *64): EMFILE */
    FK_ACCEPT,    /* accept4: EMFILE */
    FK_READ,      /* read readv recv pread(64): ECONNRESET on a socket, else EIO */
    FK_WRITE,     /* write writev send sendmsg: EPIPE on a socket, else ENOSPC */
    FK_SENDFILE,  /* sendfile(64): EPIPE */
    FK_TLS_READ,  /* SSL_read_ex: as if the socket under OpenSSL was reset (ECONNRESET) */
    FK_TLS_WRITE, /* SSL_write_ex: as if the socket under OpenSSL was closed (EPIPE) */
    FK_UDP_READ,  /* recvmmsg: ENOMEM (the datagrams stay queued in the socket) */
    FK_UDP_WRITE, /* sendmsg, sendmmsg on a datagram socket: ENOBUFS (the datagrams are lost) */
    FK_UDP_GSO,   /* sendmsg with UDP_SEGMENT: EIO (as from a device without checksum offload) */
    FK_KINDS
};

static const char *const kind_names[FK_KINDS] = {
    "malloc",   "open",      "accept",   "read",      "write",   "sendfile",
    "tls_read", "tls_write", "udp_read", "udp_write", "udp_gso",
};

/* The counters, then the fired flag: in memory, or live in the TERN_FAULT_COUNT file. */
static _Atomic uint64_t local_counts[FK_KINDS + 1];
static _Atomic uint64_t *counts = local_counts;
#define FIRED FK_KINDS
static atomic_bool armed;
static int target_kind = -1;
static unsigned long target_n;
/* the SSL object whose next SSL_get_error() must report the injected failure */
static _Thread_local const SSL *tls_failed;

/* The real functions (resolved by the linker's --wrap). */
void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__real_reallocarray(void *p, size_t n, size_t size);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
int __real_posix_memalign(void **out, size_t align, size_t size);
void *__real_CRYPTO_malloc(size_t size, const char *file, int line);
int __real_open(const char *path, int flags, ...);
int __real_open64(const char *path, int flags, ...);
int __real_openat(int dirfd, const char *path, int flags, ...);
int __real_openat64(int dirfd, const char *path, int flags, ...);
FILE *__real_fopen(const char *path, const char *mode);
FILE *__real_fopen64(const char *path, const char *mode);
long __real_syscall(long nr, ...);
int __real_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
ssize_t __real_read(int fd, void *buf, size_t len);
ssize_t __real_readv(int fd, const struct iovec *iov, int n);
ssize_t __real_recv(int fd, void *buf, size_t len, int flags);
ssize_t __real_recvmsg(int fd, struct msghdr *msg, int flags);
ssize_t __real_pread(int fd, void *buf, size_t len, off_t off);
ssize_t __real_pread64(int fd, void *buf, size_t len, off_t off);
ssize_t __real_write(int fd, const void *buf, size_t len);
ssize_t __real_writev(int fd, const struct iovec *iov, int n);
ssize_t __real_send(int fd, const void *buf, size_t len, int flags);
ssize_t __real_sendmsg(int fd, const struct msghdr *msg, int flags);
int __real_sendmmsg(int fd, struct mmsghdr *msgs, unsigned int n, int flags);
ssize_t __real_sendfile(int out, int in, off_t *off, size_t len);
ssize_t __real_sendfile64(int out, int in, off_t *off, size_t len);
int __real_SSL_read_ex(SSL *s, void *buf, size_t num, size_t *done);
int __real_SSL_write_ex(SSL *s, const void *buf, size_t num, size_t *done);
int __real_SSL_get_error(const SSL *s, int ret);
int __real_recvmmsg(int fd, struct mmsghdr *msgs, unsigned int n, int flags,
                    struct timespec *timeout);
#ifdef TERN_HAVE_QUIC
int __real_gnutls_init(gnutls_session_t *session, unsigned int flags);
int __real_ngtcp2_conn_server_new_versioned(
    ngtcp2_conn **pconn, const ngtcp2_cid *dcid, const ngtcp2_cid *scid, const ngtcp2_path *path,
    uint32_t client_chosen_version, int callbacks_version, const ngtcp2_callbacks *callbacks,
    int settings_version, const ngtcp2_settings *settings, int transport_params_version,
    const ngtcp2_transport_params *params, const ngtcp2_mem *mem, void *user_data);
#endif

/* Writes a whole string with the real write(2), uncounted. */
static void say(int fd, const char *s)
{
    size_t len = strlen(s);
    while (len) {
        ssize_t n = __real_write(fd, s, len);
        if (n <= 0) return;
        s += n;
        len -= (size_t)n;
    }
}

/* Counts one call of `kind`; true when this is the call that must fail. */
static bool fault(enum fault_kind kind)
{
    if (!atomic_load_explicit(&armed, memory_order_relaxed)) return false;
    uint64_t n = atomic_fetch_add(&counts[kind], 1) + 1;
    if ((int)kind != target_kind || n != target_n) return false;
    uint64_t idle = 0; /* 1 once injected; a test writes 2 to disarm a fault not reached */
    if (!atomic_compare_exchange_strong(&counts[FIRED], &idle, 1)) return false;
    char line[96];
    snprintf(line, sizeof(line), "tern-fault: injecting %s:%lu\n", kind_names[kind],
             (unsigned long)n);
    say(2, line);
    return true;
}

static bool is_socket(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* Puts the counters in a shared mapping of `path`, so that a test reads them while the server
 * runs (tests/fault/README.md has the layout): COUNT_HEADER bytes of text naming the kinds,
 * then one native-endian uint64 per kind in that order, then the fired flag (0; 1 once the
 * fault is injected; a reader may store 2 to disarm a fault that has not fired). */
#define COUNT_HEADER 128
static void map_counts(const char *path)
{
    size_t size = COUNT_HEADER + sizeof(local_counts);
    int fd = __real_open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || ftruncate(fd, (off_t)size) != 0) {
        say(2, "tern-fault: cannot create TERN_FAULT_COUNT file\n");
        _exit(2);
    }
    char *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        say(2, "tern-fault: cannot map TERN_FAULT_COUNT file\n");
        _exit(2);
    }
    size_t used = (size_t)snprintf(map, COUNT_HEADER, "tern-fault counts v1:");
    for (int k = 0; k < FK_KINDS; k++)
        used += (size_t)snprintf(map + used, COUNT_HEADER - used, " %s", kind_names[k]);
    used += (size_t)snprintf(map + used, COUNT_HEADER - used, " fired\n");
    memset(map + used, '\n', COUNT_HEADER - used);
    counts = (_Atomic uint64_t *)(void *)(map + COUNT_HEADER);
}

__attribute__((constructor)) static void fault_init(void)
{
    const char *spec = getenv("TERN_FAULT");
    if (spec && *spec) {
        const char *colon = strchr(spec, ':');
        for (int k = 0; colon && k < FK_KINDS; k++)
            if (strlen(kind_names[k]) == (size_t)(colon - spec) &&
                memcmp(spec, kind_names[k], (size_t)(colon - spec)) == 0)
                target_kind = k;
        char *end = NULL;
        target_n = colon ? strtoul(colon + 1, &end, 10) : 0;
        if (target_kind < 0 || target_n == 0 || !end || *end) {
            say(2, "tern-fault: TERN_FAULT must be KIND:N with N >= 1; KIND one of malloc open "
                   "accept read write sendfile tls_read tls_write udp_read udp_write udp_gso\n");
            _exit(2);
        }
    }
    const char *count_path = getenv("TERN_FAULT_COUNT");
    if (count_path && *count_path) map_counts(count_path);
    const char *arm = getenv("TERN_FAULT_ARM");
    if (arm && strcmp(arm, "start") == 0) atomic_store(&armed, true);
}

/* The wrappers below are called only through the linker's --wrap; they need no prototypes. */

/* --- allocation --------------------------------------------------------------------------- */

void *__wrap_malloc(size_t size)
{
    if (fault(FK_MALLOC)) return errno = ENOMEM, NULL;
    return __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
    if (fault(FK_MALLOC)) return errno = ENOMEM, NULL;
    return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
    if (fault(FK_MALLOC)) return errno = ENOMEM, NULL; /* p stays allocated, as on failure */
    return __real_realloc(p, size);
}

void *__wrap_reallocarray(void *p, size_t n, size_t size)
{
    if (fault(FK_MALLOC)) return errno = ENOMEM, NULL;
    return __real_reallocarray(p, n, size);
}

char *__wrap_strdup(const char *s)
{
    if (fault(FK_MALLOC)) return errno = ENOMEM, NULL;
    return __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
    if (fault(FK_MALLOC)) return errno = ENOMEM, NULL;
    return __real_strndup(s, n);
}

int __wrap_posix_memalign(void **out, size_t align, size_t size)
{
    if (fault(FK_MALLOC)) return ENOMEM; /* returns the error; *out untouched */
    return __real_posix_memalign(out, align, size);
}

/* OPENSSL_malloc() from tern's own code (src/tls/context.c) */
void *__wrap_CRYPTO_malloc(size_t size, const char *file, int line)
{
    if (fault(FK_MALLOC)) return errno = ENOMEM, NULL;
    return __real_CRYPTO_malloc(size, file, line);
}

/* --- opening files ------------------------------------------------------------------------ */

/* The mode argument, present when flags create a file. */
#define OPEN_MODE(flags, mode)                                                                     \
    do {                                                                                           \
        if ((flags) & (O_CREAT | O_TMPFILE)) {                                                     \
            va_list ap;                                                                            \
            va_start(ap, flags);                                                                   \
            (mode) = (mode_t)va_arg(ap, int);                                                      \
            va_end(ap);                                                                            \
        }                                                                                          \
    } while (0)

/* Meson builds with _FILE_OFFSET_BITS=64, so tern's objects call open64, pread64 and so on;
 * both names are wrapped so that neither choice escapes the count. */
int __wrap_open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    OPEN_MODE(flags, mode);
    if (fault(FK_OPEN)) return errno = EMFILE, -1;
    return __real_open(path, flags, mode);
}

int __wrap_open64(const char *path, int flags, ...)
{
    mode_t mode = 0;
    OPEN_MODE(flags, mode);
    if (fault(FK_OPEN)) return errno = EMFILE, -1;
    return __real_open64(path, flags, mode);
}

int __wrap_openat(int dirfd, const char *path, int flags, ...)
{
    mode_t mode = 0;
    OPEN_MODE(flags, mode);
    if (fault(FK_OPEN)) return errno = EMFILE, -1;
    return __real_openat(dirfd, path, flags, mode);
}

int __wrap_openat64(int dirfd, const char *path, int flags, ...)
{
    mode_t mode = 0;
    OPEN_MODE(flags, mode);
    if (fault(FK_OPEN)) return errno = EMFILE, -1;
    return __real_openat64(dirfd, path, flags, mode);
}

FILE *__wrap_fopen(const char *path, const char *mode)
{
    if (fault(FK_OPEN)) return errno = EMFILE, NULL;
    return __real_fopen(path, mode);
}

FILE *__wrap_fopen64(const char *path, const char *mode)
{
    if (fault(FK_OPEN)) return errno = EMFILE, NULL;
    return __real_fopen64(path, mode);
}

/* syscall(2) is how src/handler/fsopen.c reaches openat2; only that number is counted. Six
 * arguments are always taken and passed on, whatever the call uses: this is what the C library's
 * own syscall() does, and on the SysV ABIs we build for the surplus registers are harmless. */
long __wrap_syscall(long nr, ...)
{
    long a[6];
    va_list ap;
    va_start(ap, nr);
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    if (nr == SYS_openat2 && fault(FK_OPEN)) return errno = EMFILE, -1;
    return __real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* --- sockets ------------------------------------------------------------------------------ */

int __wrap_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    if (fault(FK_ACCEPT)) return errno = EMFILE, -1; /* the connection stays queued */
    int c = __real_accept4(fd, addr, len, flags);
    if (c >= 0 && !atomic_load(&armed)) atomic_store(&armed, true);
    return c;
}

ssize_t __wrap_read(int fd, void *buf, size_t len)
{
    if (fault(FK_READ)) return errno = is_socket(fd) ? ECONNRESET : EIO, -1;
    return __real_read(fd, buf, len);
}

ssize_t __wrap_readv(int fd, const struct iovec *iov, int n)
{
    if (fault(FK_READ)) return errno = is_socket(fd) ? ECONNRESET : EIO, -1;
    return __real_readv(fd, iov, n);
}

ssize_t __wrap_recv(int fd, void *buf, size_t len, int flags)
{
    if (fault(FK_READ)) return errno = ECONNRESET, -1;
    return __real_recv(fd, buf, len, flags);
}

/* recvmsg is how the client reads its QUIC datagrams (with UDP GRO): counted as recv. */
ssize_t __wrap_recvmsg(int fd, struct msghdr *msg, int flags)
{
    if (fault(FK_READ)) return errno = ECONNRESET, -1;
    return __real_recvmsg(fd, msg, flags);
}

ssize_t __wrap_pread(int fd, void *buf, size_t len, off_t off)
{
    if (fault(FK_READ)) return errno = EIO, -1;
    return __real_pread(fd, buf, len, off);
}

ssize_t __wrap_pread64(int fd, void *buf, size_t len, off_t off)
{
    if (fault(FK_READ)) return errno = EIO, -1;
    return __real_pread64(fd, buf, len, off);
}

ssize_t __wrap_write(int fd, const void *buf, size_t len)
{
    if (fault(FK_WRITE)) return errno = is_socket(fd) ? EPIPE : ENOSPC, -1;
    return __real_write(fd, buf, len);
}

ssize_t __wrap_writev(int fd, const struct iovec *iov, int n)
{
    if (fault(FK_WRITE)) return errno = is_socket(fd) ? EPIPE : ENOSPC, -1;
    return __real_writev(fd, iov, n);
}

ssize_t __wrap_send(int fd, const void *buf, size_t len, int flags)
{
    if (fault(FK_WRITE)) return errno = EPIPE, -1;
    return __real_send(fd, buf, len, flags);
}

static bool is_datagram(int fd)
{
    int type = 0;
    socklen_t len = sizeof(type);
    return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_DGRAM;
}

static bool has_udp_segment(const struct msghdr *msg)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR((struct msghdr *)msg, cm))
        if (cm->cmsg_level == IPPROTO_UDP && cm->cmsg_type == UDP_SEGMENT) return true;
    return false;
}

/* sendmsg is how src/quic sends a datagram or a train of them (UDP GSO): a failure there is a
 * lost train (ENOBUFS, as when the interface queue is full), which QUIC's loss recovery sends
 * again. A GSO send is counted as udp_gso first: EIO is what a device without checksum offload
 * answers, and src/quic then sends without GSO. */
ssize_t __wrap_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    if (is_datagram(fd)) {
        if (has_udp_segment(msg) && fault(FK_UDP_GSO)) return errno = EIO, -1;
        if (fault(FK_UDP_WRITE)) return errno = ENOBUFS, -1;
    } else if (fault(FK_WRITE)) {
        return errno = EPIPE, -1;
    }
    return __real_sendmsg(fd, msg, flags);
}

/* sendmmsg is how src/quic sends a train without GSO: all of it is lost on a failure. */
int __wrap_sendmmsg(int fd, struct mmsghdr *msgs, unsigned int n, int flags)
{
    if (fault(FK_UDP_WRITE)) return errno = ENOBUFS, -1;
    return __real_sendmmsg(fd, msgs, n, flags);
}

/* recvmmsg is how src/quic reads datagrams. A failure leaves them queued in the socket; the
 * first call that returns datagrams arms the counting, as accept4 does for TCP. */
int __wrap_recvmmsg(int fd, struct mmsghdr *msgs, unsigned int n, int flags,
                    struct timespec *timeout)
{
    if (fault(FK_UDP_READ)) return errno = ENOMEM, -1;
    int got = __real_recvmmsg(fd, msgs, n, flags, timeout);
    if (got > 0 && !atomic_load(&armed)) atomic_store(&armed, true);
    return got;
}

ssize_t __wrap_sendfile(int out, int in, off_t *off, size_t len)
{
    if (fault(FK_SENDFILE)) return errno = EPIPE, -1;
    return __real_sendfile(out, in, off, len);
}

ssize_t __wrap_sendfile64(int out, int in, off_t *off, size_t len)
{
    if (fault(FK_SENDFILE)) return errno = EPIPE, -1;
    return __real_sendfile64(out, in, off, len);
}

/* --- TLS ---------------------------------------------------------------------------------- */

/* OpenSSL does the socket I/O of TLS connections itself, out of reach of the wrappers above.
 * These fail tern's SSL_read_ex/SSL_write_ex as OpenSSL does when its socket fails: the call
 * returns 0, and SSL_get_error() on that SSL then says SSL_ERROR_SYSCALL with errno set and
 * nothing on the error queue. */
int __wrap_SSL_read_ex(SSL *s, void *buf, size_t num, size_t *done)
{
    if (fault(FK_TLS_READ)) {
        *done = 0;
        tls_failed = s;
        errno = ECONNRESET;
        return 0;
    }
    return __real_SSL_read_ex(s, buf, num, done);
}

int __wrap_SSL_write_ex(SSL *s, const void *buf, size_t num, size_t *done)
{
    if (fault(FK_TLS_WRITE)) {
        *done = 0;
        tls_failed = s;
        errno = EPIPE;
        return 0;
    }
    return __real_SSL_write_ex(s, buf, num, done);
}

#ifdef TERN_HAVE_QUIC
/* --- QUIC libraries ----------------------------------------------------------------------- */

/* ngtcp2 and GnuTLS allocate with the C library's malloc inside their own shared objects,
 * where no wrapper reaches. The two calls of tern's that make a QUIC connection's big
 * allocations are failed as if those ran out of memory (counted as malloc). */
int __wrap_gnutls_init(gnutls_session_t *session, unsigned int flags)
{
    if (fault(FK_MALLOC)) return GNUTLS_E_MEMORY_ERROR;
    return __real_gnutls_init(session, flags);
}

int __wrap_ngtcp2_conn_server_new_versioned(
    ngtcp2_conn **pconn, const ngtcp2_cid *dcid, const ngtcp2_cid *scid, const ngtcp2_path *path,
    uint32_t client_chosen_version, int callbacks_version, const ngtcp2_callbacks *callbacks,
    int settings_version, const ngtcp2_settings *settings, int transport_params_version,
    const ngtcp2_transport_params *params, const ngtcp2_mem *mem, void *user_data)
{
    if (fault(FK_MALLOC)) return NGTCP2_ERR_NOMEM;
    return __real_ngtcp2_conn_server_new_versioned(
        pconn, dcid, scid, path, client_chosen_version, callbacks_version, callbacks,
        settings_version, settings, transport_params_version, params, mem, user_data);
}

#endif

/* --- TLS (OpenSSL) ------------------------------------------------------------------------ */

int __wrap_SSL_get_error(const SSL *s, int ret)
{
    if (tls_failed && tls_failed == s) {
        tls_failed = NULL;
        return SSL_ERROR_SYSCALL;
    }
    return __real_SSL_get_error(s, ret);
}
