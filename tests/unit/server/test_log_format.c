/* Access log format strings: literals, $name, ${name}, $$, and each error with its offset. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "server/log_format.h"

/* The format as pieces: literals in brackets, variables by name */
static void expect(const char *fmt, const char *want)
{
    struct log_format f;
    char err[160] = "", out[512];
    size_t n = 0;
    CHECK_INT(log_format_parse(fmt, strlen(fmt), &f, err, sizeof(err)), 0);
    for (size_t i = 0; i < f.n_items && n < sizeof(out) - 64; i++) {
        const struct log_format_item *it = &f.items[i];
        if (it->var < 0)
            n += (size_t)snprintf(out + n, sizeof(out) - n, "[%.*s]", (int)it->len,
                                  f.text + it->off);
        else
            n += (size_t)snprintf(out + n, sizeof(out) - n, "<%s>",
                                  log_var_name((enum log_var)it->var));
    }
    out[n] = 0;
    CHECK_STR(out, want);
    log_format_free(&f);
}

static void expect_error(const char *fmt, const char *words)
{
    struct log_format f;
    char err[160] = "";
    CHECK_INT(log_format_parse(fmt, strlen(fmt), &f, err, sizeof(err)), -1);
    CHECK(strstr(err, words) != NULL);
    CHECK(f.text == NULL && f.items == NULL);
}

int main(void)
{
    expect("$remote_addr \"$request\" $status", "<remote_addr>[ \"]<request>[\" ]<status>");
    expect("${status}ms $$ $$$bytes", "<status>[ms $ $]<bytes>");
    expect("plain text", "[plain text]");
    expect("", "");
    expect("$time$time_local", "<time><time_local>");
    expect("$request_id-$host.", "<request_id>[-]<host>[.]");
    expect_error("$nope", "unknown variable 'nope' at offset 0");
    expect_error("a $Status", "'$' without a variable name at offset 2");
    expect_error("a ${status", "'${' without its '}' at offset 2");
    expect_error("x ${}", "'$' without a variable name at offset 2");
    expect_error("x $", "'$' without a variable name at offset 2");
    expect_error("${request_ids}", "unknown variable 'request_ids'");
    char many[4096] = "";
    for (int i = 0; i < 300; i++)
        strcat(many, "$status ");
    expect_error(many, "more than 256 pieces");
    return check_done("server/log_format");
}
