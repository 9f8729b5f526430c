#define _GNU_SOURCE
#include "kernel_support.h"

#include <cpuid.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

static unsigned long long read_xcr0(void) {
    unsigned eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

tnt_cpu_features tnt_cpu_read_features(void) {
    tnt_cpu_features f;
    memset(&f, 0, sizeof f);
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return f;
    unsigned max_leaf = a;
    memcpy(f.vendor, &b, 4);
    memcpy(f.vendor + 4, &d, 4);
    memcpy(f.vendor + 8, &c, 4);

    __get_cpuid(1, &a, &b, &c, &d);
    unsigned base_family = (a >> 8) & 0xf, base_model = (a >> 4) & 0xf;
    f.family = base_family == 0xf ? base_family + ((a >> 20) & 0xff) : base_family;
    f.model = (base_family == 0x6 || base_family == 0xf) ? base_model | (((a >> 16) & 0xf) << 4) : base_model;
    f.sse3 = c & bit_SSE3;
    f.ssse3 = c & bit_SSSE3;
    f.sse4_2 = c & bit_SSE4_2;
    bool osxsave = c & bit_OSXSAVE;
    unsigned long long xcr0 = osxsave ? read_xcr0() : 0;
    bool os_avx = (xcr0 & 0x6) == 0x6;
    bool os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;
    f.avx = os_avx && (c & bit_AVX);
    f.fma = os_avx && (c & bit_FMA);
    f.f16c = os_avx && (c & bit_F16C);
    f.movbe = c & bit_MOVBE;

    if (max_leaf >= 7) {
        __get_cpuid_count(7, 0, &a, &b, &c, &d);
        f.avx2 = os_avx && (b & bit_AVX2);
        f.bmi1 = b & bit_BMI;
        f.bmi2 = b & bit_BMI2;
        f.avx512f = os_avx512 && (b & bit_AVX512F);
        f.avx512bw = os_avx512 && (b & bit_AVX512BW);
        f.avx512dq = os_avx512 && (b & bit_AVX512DQ);
        f.avx512vl = os_avx512 && (b & bit_AVX512VL);
        f.avx512cd = os_avx512 && (b & bit_AVX512CD);
        __get_cpuid_count(7, 1, &a, &b, &c, &d);
        f.avx512_bf16 = os_avx512 && (a & (1u << 5));
    }
    if (__get_cpuid(0x80000001, &a, &b, &c, &d)) f.lzcnt = c & bit_LZCNT;
    return f;
}

bool tnt_openblas_switch_family(const char *family) {
    // DYNAMIC_ARCH builds export these two; OpenBLAS's own constructor calls the second,
    // which reads OPENBLAS_CORETYPE, picks the kernel table and initialises its blocking.
    void (*dynamic_quit)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit");
    void (*dynamic_init)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init");
    if (!dynamic_quit || !dynamic_init) return false;

    const char *previous = getenv("OPENBLAS_CORETYPE");
    char *saved = previous ? strdup(previous) : NULL;
    setenv("OPENBLAS_CORETYPE", family, 1);
    dynamic_quit();
    dynamic_init();
    // The process environment is left as the user gave it, for any child process.
    if (saved) {
        setenv("OPENBLAS_CORETYPE", saved, 1);
        free(saved);
    } else {
        unsetenv("OPENBLAS_CORETYPE");
    }
    return true;
}
