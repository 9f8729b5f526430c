#ifndef ALLOCATION_COUNTER_H
#define ALLOCATION_COUNTER_H

// Counts heap allocations made by the calling thread while counting is on.
// Linking this target into an executable replaces malloc and friends process-wide
// (they forward to glibc); only tests link it.
// 0 in sanitizer builds, where the counter is compiled out.
int allocation_counter_available(void);
void allocation_counter_start(void);
long allocation_counter_stop(void);
// From now on, allocations asked for by code in the shared library that defines the symbol
// `symbol_name` are not counted (OpenBLAS's SkylakeX kernels malloc inside some sgemm calls).
void allocation_counter_ignore_library_of(const char *symbol_name);

#endif
