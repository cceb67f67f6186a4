/* alloc_fixture.c: see alloc_fixture.h. */
#include "config.h"

#include <stdatomic.h>
#include <stddef.h>

#include "tests/unit/alloc_fixture.h"

/* The linker's names (-Wl,--wrap): __real_X is the libc function. */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

/*
 * A global, against the house rule, because malloc() has no argument to
 * carry it; atomic because other threads allocate while a sweep runs.
 */
static struct {
	atomic_long fail_at; /* the allocation to fail; -1: disarmed */
	atomic_long count;   /* allocations since the last arm */
	atomic_int paused;
	atomic_int failed;
} alloc_state = {-1, 0, 0, 0};

void
alloc_fixture_arm(long n)
{
	atomic_store(&alloc_state.count, 0);
	atomic_store(&alloc_state.failed, 0);
	atomic_store(&alloc_state.paused, 0);
	atomic_store(&alloc_state.fail_at, n);
}

void
alloc_fixture_disarm(void)
{
	atomic_store(&alloc_state.fail_at, -1);
	atomic_store(&alloc_state.paused, 0);
}

void
alloc_fixture_pause(void)
{
	atomic_store(&alloc_state.paused, 1);
}

void
alloc_fixture_resume(void)
{
	atomic_store(&alloc_state.paused, 0);
}

int
alloc_fixture_failed(void)
{
	return atomic_load(&alloc_state.failed);
}

static int
alloc_fixture_should_fail(void)
{
	long at = atomic_load(&alloc_state.fail_at);

	if (at < 0 || atomic_load(&alloc_state.paused) ||
	    atomic_fetch_add(&alloc_state.count, 1) != at)
		return 0;
	atomic_store(&alloc_state.failed, 1);
	return 1;
}

void *
__wrap_malloc(size_t n)
{
	return alloc_fixture_should_fail() ? NULL : __real_malloc(n);
}

void *
__wrap_calloc(size_t n, size_t m)
{
	return alloc_fixture_should_fail() ? NULL : __real_calloc(n, m);
}

void *
__wrap_realloc(void *p, size_t n)
{
	return alloc_fixture_should_fail() ? NULL : __real_realloc(p, n);
}

char *
__wrap_strdup(const char *s)
{
	return alloc_fixture_should_fail() ? NULL : __real_strdup(s);
}

char *
__wrap_strndup(const char *s, size_t n)
{
	return alloc_fixture_should_fail() ? NULL : __real_strndup(s, n);
}
