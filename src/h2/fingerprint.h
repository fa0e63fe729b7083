/* The Akamai HTTP/2 client fingerprint (Shuster, "Passive Fingerprinting of HTTP/2 Clients",
 * Black Hat USA 2017): what a client sends before and with its first request, as
 * "S|WU|P|PS", for example "1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p":
 *   S  its first SETTINGS, "id:value" in the order sent, joined by ';'
 *   WU the increment of a connection WINDOW_UPDATE sent before the first request, else "00"
 *   P  PRIORITY frames sent before it, "stream:exclusive:dependency:weight" joined by ',',
 *      else "0" (the weight as sent, 0-255)
 *   PS the order of the first request's pseudo-header fields: m(ethod), a(uthority),
 *      s(cheme), p(ath), and r for :protocol.
 * Kept by the server's session from the frames as they come; I/O-free. */
#ifndef TERN_H2_FINGERPRINT_H
#define TERN_H2_FINGERPRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/str.h"

#define H2_FP_SETTINGS   8 /* kept; more are counted in nothing */
#define H2_FP_PRIORITIES 6
#define H2_FP_TEXT       224

struct h2_fingerprint {
    struct {
        uint16_t id;
        uint32_t value;
    } settings[H2_FP_SETTINGS];
    struct {
        uint32_t stream, dependency;
        uint8_t exclusive, weight;
    } priorities[H2_FP_PRIORITIES];
    uint32_t window_update;
    uint8_t n_settings, n_priorities, n_pseudo;
    char pseudo[5];
    bool have_settings, done;
    char text[H2_FP_TEXT]; /* made once the first request's fields are in */
};

/* A frame from the client, before its first request was complete (the caller stops calling
 * once fp->done): type, stream and payload as received. */
void h2_fingerprint_frame(struct h2_fingerprint *fp, uint8_t type, uint8_t flags, uint32_t stream,
                          const uint8_t *payload, size_t len);
/* A field of the first request's header block, in order. */
void h2_fingerprint_field(struct h2_fingerprint *fp, str_t name);
/* The first request's block is decoded: makes fp->text and sets fp->done. */
void h2_fingerprint_finish(struct h2_fingerprint *fp);

#endif
