#ifndef ALLOCATION_COUNTER_H
#define ALLOCATION_COUNTER_H

// Counts heap allocations made by the calling thread while counting is on.
// Linking this target into an executable replaces malloc and friends process-wide
// (they forward to glibc); only tests link it.
void allocation_counter_start(void);
long allocation_counter_stop(void);

#endif
