/* Server push triggers (RFC 9113 §8.4, off by default): a location with `push` pushes its
 * push_paths and the same-origin targets of `Link: <...>; rel=preload` response fields. */
#ifndef TERN_H2_PUSH_H
#define TERN_H2_PUSH_H

#include "h2/session.h"
#include "server/config.h"

/* After st's response was made (before it is sent): promises what st's location asks for. */
void h2_push_for_response(struct h2_session *s, struct h2_stream *st, const struct config *cfg);

/* Iterates the preload targets of a Link field value: call with *pos = 0; returns true and the
 * URI reference of the next link with rel=preload (and no nopush parameter) in *uri. */
bool h2_push_next_preload(str_t value, size_t *pos, str_t *uri);

#endif
