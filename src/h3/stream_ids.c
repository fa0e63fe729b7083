#include "h3/stream_ids.h"

#include <string.h>

void h3_stream_ids_init(struct h3_stream_ids *t, int64_t first)
{
    memset(t, 0, sizeof(*t));
    t->next = first;
}

int64_t h3_stream_ids_max(const struct h3_stream_ids *t)
{
    return t->next >= 4 ? t->next - 4 : -1;
}

static void remove_gap(struct h3_stream_ids *t, size_t i)
{
    memmove(&t->gaps[i], &t->gaps[i + 1], (t->n_gaps - i - 1) * sizeof(t->gaps[0]));
    t->n_gaps--;
}

enum h3_id_kind h3_stream_ids_see(struct h3_stream_ids *t, int64_t id)
{
    if (id >= t->next) {
        if (id > t->next) { /* ids next .. id-4 are opened without a byte yet */
            if (t->n_gaps == H3_STREAM_IDS_MAX_GAPS) return H3_ID_TOO_MANY;
            t->gaps[t->n_gaps++] = (struct h3_id_run){t->next, id - 4};
        }
        t->next = id + 4;
        return H3_ID_NEW;
    }
    for (size_t i = 0; i < t->n_gaps; i++) { /* runs are in ascending order */
        struct h3_id_run *r = &t->gaps[i];
        if (id < r->lo) break;
        if (id > r->hi) continue;
        if (r->lo == r->hi) {
            remove_gap(t, i);
        } else if (id == r->lo) {
            r->lo += 4;
        } else if (id == r->hi) {
            r->hi -= 4;
        } else { /* split the run around id */
            if (t->n_gaps == H3_STREAM_IDS_MAX_GAPS) return H3_ID_TOO_MANY;
            memmove(&t->gaps[i + 2], &t->gaps[i + 1], (t->n_gaps - i - 1) * sizeof(t->gaps[0]));
            t->n_gaps++;
            t->gaps[i + 1] = (struct h3_id_run){id + 4, r->hi};
            r->hi = id - 4;
        }
        return H3_ID_NEW;
    }
    return H3_ID_OLD;
}
