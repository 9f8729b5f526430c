// TNTModel and TNTImage are compiled for x86-64-v3 (Package.swift): on an older CPU their
// first vector instruction would kill the process with SIGILL and no word of why. This file
// is compiled for the baseline x86-64, and its constructor runs before main: it names what
// the CPU lacks and exits instead.
#if defined(__x86_64__)
#define _GNU_SOURCE
#include "kernel_support.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

// The names of the x86-64-v3 features `f` lacks, space-separated into `names`; how many.
static size_t missing_x86_64_v3(tnt_cpu_features f, char *names, size_t capacity) {
    const struct { const char *name; bool present; } needed[] = {
        {"avx", f.avx}, {"avx2", f.avx2}, {"fma", f.fma}, {"f16c", f.f16c},
        {"bmi1", f.bmi1}, {"bmi2", f.bmi2}, {"lzcnt", f.lzcnt}, {"movbe", f.movbe},
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
    tnt_cpu_features f = tnt_cpu_read_features();
    char names[64];
    if (missing_x86_64_v3(f, names, sizeof names) == 0) return;
    fprintf(stderr,
            "%s: TNTServe is built for x86-64-v3 CPUs (AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE: Intel "
            "Haswell, AMD Zen and later); this one (%s family %u model %u) lacks: %s. AVX counts only "
            "where the operating system enables it; a virtual machine may hide these from its guests.\n",
            program_invocation_short_name, f.vendor, f.family, f.model, names);
    _exit(1);
}
#endif
