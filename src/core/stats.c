#include "core/stats.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The mapping: this header, then STATS_SLOTS_PER_PART blocks per part. */
struct stats_region_head {
    alignas(64) _Atomic int32_t claimed[2];
};

static struct stats_block scratch; /* threads that are not workers (racy, never read) */
_Thread_local struct stats_block *stats_here = &scratch;

static struct stats_region_head *region;
static int region_fd = -1;
static int my_part;

static size_t region_size(void)
{
    return sizeof(struct stats_region_head) +
           2 * (size_t)STATS_SLOTS_PER_PART * sizeof(struct stats_block);
}

static struct stats_block *slot(int part, int id)
{
    struct stats_block *blocks = (struct stats_block *)(region + 1);
    return &blocks[(size_t)part * STATS_SLOTS_PER_PART + (size_t)id];
}

static int map_fd(int fd)
{
    void *p = mmap(NULL, region_size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) return -1;
    region = p;
    region_fd = fd;
    return 0;
}

int stats_region_create(void)
{
    if (region) return 0;
    /* pages are only made when touched: blocks of workers that do not exist cost nothing */
    int fd = memfd_create("tern-stats", MFD_CLOEXEC);
    if (fd < 0) return -1;
    if (ftruncate(fd, (off_t)region_size()) < 0 || map_fd(fd) < 0) {
        close(fd);
        return -1;
    }
    return 0;
}

int stats_region_attach(int fd)
{
    if (region) return 0;
    return map_fd(fd);
}

int stats_region_fd(void)
{
    return region_fd;
}

int stats_region_claim(int part, int count, bool keep)
{
    if (!region || part < 0 || part > 1) return -1;
    if (count > STATS_SLOTS_PER_PART) count = STATS_SLOTS_PER_PART;
    my_part = part;
    int before = atomic_load(&region->claimed[part]);
    for (int i = keep ? before : 0; i < count; i++)
        memset((void *)slot(part, i), 0, sizeof(struct stats_block));
    /* the connections of a predecessor that died are gone: the gauges start from 0 */
    for (int i = 0; keep && i < before && i < STATS_SLOTS_PER_PART; i++) {
        struct stats_block *b = slot(part, i);
        for (int w = 0; w < SW_COUNT; w++)
            for (int t = 0; t < ST_COUNT; t++)
                atomic_store(&b->conns_closed[w][t], atomic_load(&b->conns_opened[w][t]));
    }
    if (count > before || !keep) atomic_store(&region->claimed[part], count);
    return 0;
}

struct stats_block *stats_region_block(int id)
{
    if (!region || id < 0 || id >= STATS_SLOTS_PER_PART) return NULL;
    return slot(my_part, id);
}

void stats_thread_use(struct stats_block *b)
{
    stats_here = b ? b : &scratch;
}

void stats_sum(struct stats_block *out)
{
    memset((void *)out, 0, sizeof(*out));
    if (!region) return;
    size_t n = sizeof(*out) / sizeof(stats_counter);
    stats_counter *dst = (stats_counter *)out;
    for (int part = 0; part < 2; part++) {
        int count = atomic_load(&region->claimed[part]);
        for (int i = 0; i < count && i < STATS_SLOTS_PER_PART; i++) {
            const stats_counter *src = (const stats_counter *)slot(part, i);
            for (size_t k = 0; k < n; k++)
                atomic_store_explicit(&dst[k],
                                      atomic_load_explicit(&dst[k], memory_order_relaxed) +
                                          atomic_load_explicit(&src[k], memory_order_relaxed),
                                      memory_order_relaxed);
        }
    }
}

enum stats_version stats_version_of(int version)
{
    switch (version) {
    case 9: return SV_09;
    case 10: return SV_10;
    case 20: return SV_2;
    case 30: return SV_3;
    default: return SV_11;
    }
}

enum stats_status stats_status_of(int status)
{
    if (status < 100 || status > 599) return SS_NONE;
    return (enum stats_status)(SS_1XX + status / 100 - 1);
}
