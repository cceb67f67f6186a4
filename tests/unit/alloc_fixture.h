/*
 * alloc_fixture.h: the failing allocator of the allocation-failure sweeps
 * (STYLE.md, "fail the Nth allocation", curl's torture).  A test program
 * that links alloc_fixture.c must be linked with $(ALLOC_FIXTURE_WRAP)
 * (-Wl,--wrap= malloc, calloc, realloc, strdup, strndup): every call to those
 * from the program's own objects and from our libraries then goes through
 * the fixture, while the system libraries underneath (LMDB, OpenSSL,
 * jansson, libyaml, vectorscan...) allocate normally.
 *
 * Disarmed (the initial state), the wrappers only call the real functions.
 * The state is shared by all threads (a journal's writer thread allocates
 * too), so a sweep arms before the call under test and disarms after it.
 */
#ifndef WW_ALLOC_FIXTURE_H
#define WW_ALLOC_FIXTURE_H

/*
 * From now on the allocation number n fails (0: the next one), and only
 * that one: the ones after it succeed again.  Clears the count and the
 * flag alloc_fixture_failed() reads.  n >= 0.
 */
void alloc_fixture_arm(long n);

/* No allocation fails any more and none is counted. */
void alloc_fixture_disarm(void);

/*
 * Until alloc_fixture_resume(), allocations neither fail nor count: for
 * building the inputs of a call, which are not under test.  Resuming
 * returns to the state pause found (armed or not).  Not nested.
 */
void alloc_fixture_pause(void);
void alloc_fixture_resume(void);

/*
 * Non-zero once the armed failure happened since the last arm; zero means
 * the call made fewer allocations than n + 1, so the sweep is complete.
 */
int alloc_fixture_failed(void);

#endif
