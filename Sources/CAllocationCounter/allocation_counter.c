#define _GNU_SOURCE
#include "allocation_counter.h"
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

#ifndef __has_feature
#define __has_feature(x) 0
#endif
// Sanitizers interpose malloc themselves (and before this file's code may run): under them
// the counter is off and the allocation tests are skipped.
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
int allocation_counter_available(void) { return 0; }
void allocation_counter_start(void) {}
long allocation_counter_stop(void) { return 0; }
void allocation_counter_ignore_library_of(const char *symbol_name) { (void)symbol_name; }
#else
int allocation_counter_available(void) { return 1; }

static __thread int counting;
static __thread long count;
static void *ignored_library;

// Counts an allocation unless the code that asked for it lives in the ignored library.
static inline void note(void *caller) {
    if (!counting) return;
    if (ignored_library) {
        Dl_info info;
        if (dladdr(caller, &info) && info.dli_fbase == ignored_library) return;
    }
    count++;
}

void allocation_counter_start(void) { count = 0; counting = 1; }
long allocation_counter_stop(void) { counting = 0; return count; }

void allocation_counter_ignore_library_of(const char *symbol_name) {
    Dl_info info;
    void *symbol = dlsym(RTLD_DEFAULT, symbol_name);
    ignored_library = symbol && dladdr(symbol, &info) ? info.dli_fbase : NULL;
}

#define CALLER __builtin_return_address(0)
void *malloc(size_t n) { note(CALLER); return __libc_malloc(n); }
void *calloc(size_t k, size_t n) { note(CALLER); return __libc_calloc(k, n); }
void *realloc(void *p, size_t n) { note(CALLER); return __libc_realloc(p, n); }
void free(void *p) { __libc_free(p); }
void *memalign(size_t a, size_t n) { note(CALLER); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { note(CALLER); return __libc_memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) {
    note(CALLER);
    void *p = __libc_memalign(a, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
#endif
