#include <string.h>

#include "check.h"
#include "core/buf.h"

int main(void)
{
    struct buf b = {0};
    CHECK_INT(buf_size(&b), 0);
    CHECK_INT(buf_append(&b, "hello ", 6), 0);
    CHECK_INT(buf_appendf(&b, "%s %d", "world", 7), 0);
    CHECK_STRN(buf_ptr(&b), buf_size(&b), "hello world 7");
    buf_consume(&b, 6);
    CHECK_STRN(buf_ptr(&b), buf_size(&b), "world 7");
    /* reserve after a consume compacts or grows without losing content */
    CHECK_INT(buf_reserve(&b, 5000), 0);
    CHECK(b.cap - b.len >= 5000);
    CHECK_STRN(buf_ptr(&b), buf_size(&b), "world 7");
    memset(buf_tail(&b), 'x', 5000);
    buf_commit(&b, 5000);
    CHECK_INT(buf_size(&b), 5007);
    buf_consume(&b, 5007);
    CHECK_INT(buf_size(&b), 0);
    CHECK_INT(b.start, 0);
    buf_append(&b, "abc", 3);
    buf_consume(&b, 1);
    buf_compact(&b);
    CHECK_INT(b.start, 0);
    CHECK_STRN(buf_ptr(&b), buf_size(&b), "bc");
    buf_clear(&b);
    CHECK_INT(buf_size(&b), 0);
    buf_free(&b);
    CHECK(b.data == NULL);
    return check_done("core/buf");
}
