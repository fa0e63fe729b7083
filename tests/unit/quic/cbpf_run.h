/* A tiny classic-BPF interpreter for the instructions the steering program uses, with the
 * kernel's rules (a load past the end ends the program with 0), to test it without sockets. */
#ifndef TERN_TEST_CBPF_RUN_H
#define TERN_TEST_CBPF_RUN_H

#include <linux/filter.h>
#include <stddef.h>
#include <stdint.h>

/* Runs prog over pkt; returns its answer, or 0xdeadbeef on an instruction it does not know. */
static inline uint32_t cbpf_run(const struct sock_filter *prog, size_t n, const uint8_t *pkt,
                                size_t len)
{
    uint32_t a = 0;
    for (size_t pc = 0; pc < n; pc++) {
        const struct sock_filter *f = &prog[pc];
        switch (f->code) {
        case BPF_LD | BPF_B | BPF_ABS:
            if (f->k >= len) return 0;
            a = pkt[f->k];
            break;
        case BPF_LD | BPF_W | BPF_LEN: a = (uint32_t)len; break;
        case BPF_ALU | BPF_MOD | BPF_K: a = f->k ? a % f->k : 0; break;
        case BPF_JMP | BPF_JSET | BPF_K: pc += (a & f->k) ? f->jt : f->jf; break;
        case BPF_JMP | BPF_JGE | BPF_K: pc += (a >= f->k) ? f->jt : f->jf; break;
        case BPF_JMP | BPF_JEQ | BPF_K: pc += (a == f->k) ? f->jt : f->jf; break;
        case BPF_RET | BPF_A: return a;
        case BPF_RET | BPF_K: return f->k;
        default: return 0xdeadbeef;
        }
    }
    return 0xdeadbeef; /* fell off the end: the kernel's checker would refuse it */
}

#endif
