// TNTModel and TNTImage are compiled for x86-64-v3 (Package.swift): on an older CPU their
// first vector instruction would kill the process with SIGILL and no word of why. This file
// is compiled for the baseline x86-64, and its constructor runs before main: it names what
// the CPU lacks and exits instead.
#if defined(__x86_64__)
#define _GNU_SOURCE
#include "kernel_support.h"

#include <cpuid.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static size_t missing_x86_64_v3(char *names, size_t capacity) {
    tnt_cpu_features f = tnt_cpu_read_features();
    unsigned a = 0, b = 0, c = 0, d = 0;
    bool movbe = false, f16c = false, bmi1 = false, bmi2 = false, lzcnt = false;
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        movbe = c & (1u << 22);
        f16c = f.avx && (c & (1u << 29));
    }
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        bmi1 = b & (1u << 3);
        bmi2 = b & (1u << 8);
    }
    if (__get_cpuid(0x80000001, &a, &b, &c, &d)) lzcnt = c & (1u << 5);

    const struct { const char *name; bool present; } needed[] = {
        {"avx", f.avx}, {"avx2", f.avx2}, {"fma", f.fma}, {"f16c", f16c},
        {"bmi1", bmi1}, {"bmi2", bmi2}, {"lzcnt", lzcnt}, {"movbe", movbe},
    };
    size_t missing = 0, used = 0;
    if (capacity > 0) names[0] = '\0';
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++) {
        if (needed[i].present) continue;
        missing++;
        if (used < capacity) {
            int n = snprintf(names + used, capacity - used, "%s%s", used ? " " : "", needed[i].name);
            if (n > 0) used += (size_t)n;
        }
    }
    return missing;
}

__attribute__((constructor)) static void tnt_require_x86_64_v3(void) {
    char names[64];
    if (missing_x86_64_v3(names, sizeof names) == 0) return;
    tnt_cpu_features f = tnt_cpu_read_features();
    fprintf(stderr,
            "%s: TNTServe is built for x86-64-v3 CPUs (AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE: Intel "
            "Haswell, AMD Zen and later); this one (%s family %u model %u) lacks: %s. AVX counts only "
            "where the operating system enables it; a virtual machine may hide these from its guests.\n",
            program_invocation_short_name, f.vendor, f.family, f.model, names);
    _exit(1);
}
#endif
