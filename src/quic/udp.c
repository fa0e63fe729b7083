/* UDP socket calls for QUIC: GSO trains out (sendmmsg when the kernel refuses GSO), GRO
 * coalesced datagrams in, packet info and ECN in control messages. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "quic/udp.h"

int quic_udp_setup(struct quic_udp *u, int fd, int family)
{
    memset(u, 0, sizeof(*u));
    u->fd = fd;
    u->family = family;
    int one = 1;
    if (family == AF_INET6) {
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) != 0) return -1;
        /* ECN is best effort: without it ngtcp2 sees every packet as not ECN-capable */
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_RECVTCLASS, &one, sizeof(one));
    } else {
        if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) != 0) return -1;
        (void)setsockopt(fd, IPPROTO_IP, IP_RECVTOS, &one, sizeof(one));
    }
    u->gro = setsockopt(fd, IPPROTO_UDP, UDP_GRO, &one, sizeof(one)) == 0;
    /* A kernel that knows UDP_SEGMENT answers this; whether the device takes it shows at the
     * first send (EIO without checksum offload). The environment variable is for tests and
     * benchmarks that compare with one datagram per datagram send. */
    int seg = 0;
    socklen_t sl = sizeof(seg);
    u->gso = getsockopt(fd, IPPROTO_UDP, UDP_SEGMENT, &seg, &sl) == 0 &&
             !getenv("TERN_TEST_QUIC_NO_GSO");
    return 0;
}

void quic_udp_recv_info(const struct msghdr *mh, struct quic_path *p, uint8_t *ecn, size_t *seg)
{
    *ecn = 0;
    *seg = 0;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR((struct msghdr *)mh, cm)) {
        if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo pi;
            memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
            ((struct sockaddr_in *)&p->local)->sin_addr = pi.ipi_addr;
        } else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo pi;
            memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
            ((struct sockaddr_in6 *)&p->local)->sin6_addr = pi.ipi6_addr;
        } else if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_TOS) {
            uint8_t tos; /* one byte on receipt */
            memcpy(&tos, CMSG_DATA(cm), 1);
            *ecn = tos & 0x3;
        } else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_TCLASS) {
            int tc;
            memcpy(&tc, CMSG_DATA(cm), sizeof(tc));
            *ecn = (uint8_t)(tc & 0x3);
        } else if (cm->cmsg_level == IPPROTO_UDP && cm->cmsg_type == UDP_GRO) {
            int gs;
            memcpy(&gs, CMSG_DATA(cm), sizeof(gs));
            if (gs > 0) *seg = (size_t)gs;
        }
    }
}

static struct cmsghdr *add_cmsg(struct msghdr *mh, struct cmsghdr *prev, int level, int type,
                                const void *data, size_t len)
{
    struct cmsghdr *cm = prev ? CMSG_NXTHDR(mh, prev) : CMSG_FIRSTHDR(mh);
    cm->cmsg_level = level;
    cm->cmsg_type = type;
    cm->cmsg_len = CMSG_LEN(len);
    memcpy(CMSG_DATA(cm), data, len);
    return cm;
}

/* Fills the control messages: the source address the peer wrote to, the ECN codepoint, and
 * the segment size (seg 0: none). Returns the control length. */
static size_t build_cmsgs(struct msghdr *mh, char *buf, const struct quic_path *path, uint8_t ecn,
                          uint16_t seg)
{
    memset(buf, 0, QUIC_UDP_CMSG_SPACE);
    mh->msg_control = buf;
    mh->msg_controllen = QUIC_UDP_CMSG_SPACE; /* for CMSG_NXTHDR while building */
    struct cmsghdr *cm = NULL;
    size_t used = 0;
    int tos = ecn;
    if (path->local.ss_family == AF_INET) {
        struct in_pktinfo pi = {0};
        pi.ipi_spec_dst = ((const struct sockaddr_in *)&path->local)->sin_addr;
        cm = add_cmsg(mh, cm, IPPROTO_IP, IP_PKTINFO, &pi, sizeof(pi));
        used += CMSG_SPACE(sizeof(pi));
        if (ecn) {
            cm = add_cmsg(mh, cm, IPPROTO_IP, IP_TOS, &tos, sizeof(tos));
            used += CMSG_SPACE(sizeof(tos));
        }
    } else if (path->local.ss_family == AF_INET6) {
        struct in6_pktinfo pi = {0};
        pi.ipi6_addr = ((const struct sockaddr_in6 *)&path->local)->sin6_addr;
        cm = add_cmsg(mh, cm, IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof(pi));
        used += CMSG_SPACE(sizeof(pi));
        if (ecn) {
            cm = add_cmsg(mh, cm, IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof(tos));
            used += CMSG_SPACE(sizeof(tos));
        }
    }
    if (seg) {
        cm = add_cmsg(mh, cm, IPPROTO_UDP, UDP_SEGMENT, &seg, sizeof(seg));
        used += CMSG_SPACE(sizeof(seg));
    }
    mh->msg_controllen = used;
    if (!used) mh->msg_control = NULL;
    return used;
}

/* One datagram per message, all in one sendmmsg (as many calls as the kernel needs). */
static struct quic_udp_sent send_each(struct quic_udp *u, const uint8_t *data, size_t len,
                                      size_t seg, const struct quic_path *path, uint8_t ecn)
{
    struct quic_udp_sent r = {0, 0};
    struct mmsghdr msgs[QUIC_UDP_MAX_SEGS];
    struct iovec iov[QUIC_UDP_MAX_SEGS];
    union {
        char buf[QUIC_UDP_CMSG_SPACE];
        struct cmsghdr align;
    } ctl;
    struct msghdr proto = {.msg_name = (void *)&path->remote, .msg_namelen = path->remote_len};
    build_cmsgs(&proto, ctl.buf, path, ecn, 0);
    unsigned k = 0;
    for (size_t off = 0; off < len && k < QUIC_UDP_MAX_SEGS; off += seg, k++) {
        iov[k].iov_base = (void *)(data + off);
        iov[k].iov_len = len - off < seg ? len - off : seg;
        msgs[k].msg_hdr = proto;
        msgs[k].msg_hdr.msg_iov = &iov[k];
        msgs[k].msg_hdr.msg_iovlen = 1;
        msgs[k].msg_len = 0;
    }
    while (r.datagrams < k) {
        int n = sendmmsg(u->fd, msgs + r.datagrams, k - r.datagrams, MSG_DONTWAIT);
        r.calls++;
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break; /* a full buffer: the rest is lost, loss recovery resends it */
        r.datagrams += (unsigned)n;
    }
    return r;
}

struct quic_udp_sent quic_udp_send(struct quic_udp *u, const uint8_t *data, size_t len, size_t seg,
                                   const struct quic_path *path, uint8_t ecn)
{
    struct quic_udp_sent r = {0, 0};
    if (!len || !seg) return r;
    size_t nseg = (len + seg - 1) / seg;
    if (nseg > 1 && !u->gso) return send_each(u, data, len, seg, path, ecn);
    struct iovec iov = {(void *)data, len};
    union {
        char buf[QUIC_UDP_CMSG_SPACE];
        struct cmsghdr align;
    } ctl;
    struct msghdr mh = {
        .msg_name = (void *)&path->remote,
        .msg_namelen = path->remote_len,
        .msg_iov = &iov,
        .msg_iovlen = 1,
    };
    build_cmsgs(&mh, ctl.buf, path, ecn, nseg > 1 ? (uint16_t)seg : 0);
    ssize_t n;
    do {
        n = sendmsg(u->fd, &mh, MSG_DONTWAIT);
        r.calls++;
    } while (n < 0 && errno == EINTR);
    if (n >= 0) {
        r.datagrams = (unsigned)nseg;
    } else if (nseg > 1 && (errno == EIO || errno == EINVAL)) {
        /* The kernel or the device refuses segmentation offload (EIO: no checksum offload):
         * remember it for this socket and send the same train one datagram each. */
        u->gso = false;
        log_warn("quic: UDP GSO refused on socket %d (%s): one datagram per message from now",
                 u->fd, strerror(errno));
        struct quic_udp_sent e = send_each(u, data, len, seg, path, ecn);
        r.calls += e.calls;
        r.datagrams = e.datagrams;
    }
    /* Otherwise (a full socket buffer) the datagrams are lost: QUIC's loss recovery sends
     * their frames again. */
    return r;
}
