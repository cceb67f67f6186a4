/* segment.c: one LMDB environment of the journal (see segment.h). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ww.h"
#include "store/segment.h"

static const char *const segment_idx_names[SEGMENT_IDX_COUNT] = {
    "sender", "recipient", "chat", "time"};

int
segment_period_parse(const char *s, enum segment_period *out)
{
	if (s == NULL || *s == '\0' || strcmp(s, "month") == 0)
		*out = SEGMENT_MONTH;
	else if (strcmp(s, "day") == 0)
		*out = SEGMENT_DAY;
	else if (strcmp(s, "none") == 0)
		*out = SEGMENT_NONE;
	else
		return WW_EINVAL;
	return WW_OK;
}

void
segment_label(enum segment_period p, int64_t time_ns,
              char out[SEGMENT_LABEL_MAX])
{
	time_t t = (time_t)(time_ns / 1000000000);
	struct tm tm;

	if (p == SEGMENT_NONE || gmtime_r(&t, &tm) == NULL) {
		snprintf(out, SEGMENT_LABEL_MAX, "all");
		return;
	}
	if (p == SEGMENT_DAY)
		strftime(out, SEGMENT_LABEL_MAX, "%Y-%m-%d", &tm);
	else
		strftime(out, SEGMENT_LABEL_MAX, "%Y-%m", &tm);
}

void
segment_name_make(uint64_t first, const char *label, struct segment_name *name)
{
	memset(name, 0, sizeof(*name));
	name->first = first;
	snprintf(name->label, sizeof(name->label), "%s", label);
	snprintf(name->name, sizeof(name->name), "%020llu-%s",
	         (unsigned long long)first, name->label);
}

/* "NNNNNNNNNNNNNNNNNNNN-label" with a sane label; 0 when it is one. */
static int
segment_name_parse(const char *s, struct segment_name *name)
{
	uint64_t first = 0;
	size_t llen;

	for (int i = 0; i < 20; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (first > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		first = first * 10 + (uint64_t)(s[i] - '0');
	}
	if (s[20] != '-')
		return -1;
	llen = strlen(s + 21);
	if (llen == 0 || llen >= SEGMENT_LABEL_MAX ||
	    strspn(s + 21, "0123456789abcdefghijklmnopqrstuvwxyz-") != llen)
		return -1;
	segment_name_make(first, s + 21, name);
	return 0;
}

static int
segment_name_cmp(const void *a, const void *b)
{
	const struct segment_name *x = a, *y = b;

	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return strcmp(x->name, y->name);
}

int
segment_list(const char *dir, struct segment_name **out, size_t *n)
{
	struct segment_name *v = NULL, *grown, name;
	size_t len = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	*out = NULL;
	*n = 0;
	d = opendir(dir);
	if (d == NULL)
		return errno == ENOENT ? WW_ENOTFOUND : segment_err(errno);
	while ((de = readdir(d)) != NULL) {
		if (segment_name_parse(de->d_name, &name) != 0)
			continue;
		if (len == cap) {
			cap = cap ? cap * 2 : 16;
			grown = realloc(v, cap * sizeof(*v));
			if (grown == NULL) {
				free(v);
				closedir(d);
				return WW_ENOMEM;
			}
			v = grown;
		}
		v[len++] = name;
	}
	closedir(d);
	if (len > 1)
		qsort(v, len, sizeof(*v), segment_name_cmp);
	*out = v;
	*n = len;
	return WW_OK;
}

int
segment_err(int mdb_rc)
{
	switch (mdb_rc) {
	case MDB_SUCCESS:
		return WW_OK;
	case MDB_NOTFOUND:
	case ENOENT:
		return WW_ENOTFOUND;
	case MDB_MAP_FULL:
	case ENOSPC:
	case EDQUOT:
	case EFBIG: /* a file size limit: no room for the journal either */
		return WW_ENOSPC;
	case ENOMEM:
		return WW_ENOMEM;
	case EACCES:
	case EPERM:
		return WW_EPERM;
	case MDB_KEYEXIST:
		return WW_EEXIST;
	case MDB_VERSION_MISMATCH:
		return WW_EVERSION;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_INCOMPATIBLE:
		return WW_ECORRUPT;
	case MDB_TXN_FULL:
	case MDB_BAD_VALSIZE:
	case MDB_READERS_FULL:
	case MDB_DBS_FULL:
		return WW_ELIMIT;
	default:
		return WW_EIO;
	}
}

/* Open (or create, in a write transaction) every named database. */
static int
segment_open_dbs(struct segment *s, MDB_txn *txn)
{
	unsigned create = s->rdonly ? 0 : MDB_CREATE;
	unsigned dup = MDB_DUPSORT | MDB_DUPFIXED;
	int rc;

	rc = mdb_dbi_open(txn, "records", create, &s->records);
	for (int i = 0; rc == 0 && i < SEGMENT_IDX_COUNT; i++)
		rc = mdb_dbi_open(txn, segment_idx_names[i], create | dup,
		                  &s->idx[i]);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "outcome", create, &s->outcome);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "blobs", create, &s->blobs);
	return rc;
}

/* Databases for a read-only segment, in a transaction of their own. */
static int
segment_open_dbs_ro(struct segment *s)
{
	MDB_txn *txn;
	int rc;

	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc == MDB_MAP_RESIZED) {
		mdb_env_set_mapsize(s->env, 0);
		rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	}
	if (rc != 0)
		return segment_err(rc);
	rc = segment_open_dbs(s, txn);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return segment_err(rc);
	}
	/* Committing keeps the handles for later transactions. */
	rc = mdb_txn_commit(txn);
	if (rc != 0)
		return segment_err(rc);
	s->dbs_open = 1;
	return WW_OK;
}

static int
segment_env(const char *path, int rdonly, unsigned env_flags, size_t mapsize,
            MDB_env **out)
{
	unsigned flags = env_flags | (rdonly ? MDB_RDONLY | MDB_NOTLS : 0);
	MDB_env *env;
	int rc;

	rc = mdb_env_create(&env);
	if (rc != 0)
		return rc;
	rc = mdb_env_set_maxdbs(env, 8);
	if (rc == 0 && mapsize > 0)
		rc = mdb_env_set_mapsize(env, mapsize);
	if (rc == 0)
		rc = mdb_env_set_maxreaders(env, 254);
	if (rc == 0)
		rc = mdb_env_open(env, path, flags, 0640);
	if (rdonly && (rc == EACCES || rc == EROFS)) {
		/*
		 * An archived copy on read-only media, or a reader without
		 * write access to lock.mdb: read without the lock table.  Safe
		 * when no writer is active, which is the case for such copies.
		 */
		mdb_env_close(env);
		if ((rc = mdb_env_create(&env)) != 0)
			return rc;
		rc = mdb_env_set_maxdbs(env, 8);
		if (rc == 0)
			rc = mdb_env_open(env, path, flags | MDB_NOLOCK, 0640);
	}
	if (rc != 0) {
		mdb_env_close(env);
		return rc;
	}
	*out = env;
	return 0;
}

/* Write side: create the directory and the databases. */
static int
segment_create_dbs(struct segment *s)
{
	MDB_txn *txn;
	int rc;

	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return rc;
	rc = segment_open_dbs(s, txn);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	rc = mdb_txn_commit(txn);
	if (rc == 0)
		s->dbs_open = 1;
	return rc;
}

int
segment_sync_dir(const char *path)
{
	int fd, rc = WW_OK;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return segment_err(errno);
	if (fsync(fd) != 0)
		rc = segment_err(errno);
	close(fd);
	return rc;
}

/*
 * A data file shorter than the pages its meta page counts (a copy cut
 * short by a full disk, a truncated file) makes the first read of a
 * missing page through LMDB's map fault with SIGBUS: refuse it as corrupt
 * instead (DESIGN.md: a bad journal file never crashes).  LMDB writes the
 * pages before the meta page that counts them, so a live writer's file is
 * never shorter.  Found by tests/fault/disk.sh.  MDB_CORRUPTED when short.
 */
static int
segment_check_size(MDB_env *env, long long *have, long long *want)
{
	MDB_envinfo info;
	MDB_stat st;
	mdb_filehandle_t fd;
	struct stat sb;
	int rc;

	if ((rc = mdb_env_info(env, &info)) != 0 ||
	    (rc = mdb_env_stat(env, &st)) != 0 ||
	    (rc = mdb_env_get_fd(env, &fd)) != 0)
		return rc;
	if (fstat(fd, &sb) != 0)
		return errno;
	*want = ((long long)info.me_last_pgno + 1) * (long long)st.ms_psize;
	*have = (long long)sb.st_size;
	return *have < *want ? MDB_CORRUPTED : 0;
}

int
segment_open(const char *dir, const struct segment_name *name, int rdonly,
             unsigned env_flags, size_t mapsize, struct segment **out,
             char *err, size_t errlen)
{
	char path[4096];
	struct segment *s;
	long long have = 0, want = 0;
	int n, rc;

	*out = NULL;
	n = snprintf(path, sizeof(path), "%s/%s", dir, name->name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return ww_fail(WW_EINVAL, err, errlen, "path too long");
	if (!rdonly && mkdir(path, 0750) != 0 && errno != EEXIST)
		return ww_fail(segment_err(errno), err, errlen, "%s: %s", path,
		               strerror(errno));
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return WW_ENOMEM;
	s->rdonly = rdonly;
	s->name = *name;
	rc = segment_env(path, rdonly, env_flags, mapsize, &s->env);
	if (rc == 0 &&
	    (rc = segment_check_size(s->env, &have, &want)) == MDB_CORRUPTED) {
		segment_close(s);
		return ww_fail(WW_ECORRUPT, err, errlen,
		               "%s: data file truncated (%lld of %lld bytes)",
		               path, have, want);
	}
	if (rc == 0 && !rdonly)
		rc = segment_create_dbs(s);
	/* The new directory and files must outlive a crash like the data. */
	if (rc == 0 && !rdonly &&
	    (segment_sync_dir(path) != WW_OK || segment_sync_dir(dir) != WW_OK))
		rc = EIO;
	if (rc != 0) {
		int wrc = segment_err(rc);
		segment_close(s);
		return ww_fail(wrc, err, errlen, "%s: %s", path,
		               mdb_strerror(rc));
	}
	if (rdonly) /* an empty segment gets its databases later */
		(void)segment_open_dbs_ro(s);
	*out = s;
	return WW_OK;
}

void
segment_close(struct segment *s)
{
	if (s == NULL)
		return;
	if (s->env != NULL)
		mdb_env_close(s->env);
	free(s);
}

int
segment_begin(struct segment *s, int rdonly, MDB_txn **txn)
{
	unsigned flags = rdonly ? MDB_RDONLY : 0;
	int rc;

	*txn = NULL;
	if (!s->dbs_open) {
		if (!s->rdonly)
			return WW_EINVAL;
		rc = segment_open_dbs_ro(s);
		if (rc != WW_OK)
			return rc;
	}
	rc = mdb_txn_begin(s->env, NULL, flags, txn);
	if (rc == MDB_MAP_RESIZED) {
		/* Another process grew the map: adopt its size. */
		rc = mdb_env_set_mapsize(s->env, 0);
		if (rc == 0)
			rc = mdb_txn_begin(s->env, NULL, flags, txn);
	}
	return segment_err(rc);
}

int
segment_grow(struct segment *s)
{
	MDB_envinfo info;
	int rc;

	rc = mdb_env_info(s->env, &info);
	if (rc == 0)
		rc = mdb_env_set_mapsize(s->env, info.me_mapsize * 2);
	return segment_err(rc);
}

int
segment_prealloc(struct segment *s, size_t ahead)
{
	static const uint8_t zeros[1 << 16];
	MDB_envinfo info;
	MDB_stat st;
	struct stat fst;
	mdb_filehandle_t fd;
	off_t used, off, end;

	/* No system call while the size last seen leaves room enough:
	   the file only grows (LMDB or we extend it), so that size may be
	   short of the truth but never beyond it.  */
	if (mdb_env_info(s->env, &info) != 0 || mdb_env_stat(s->env, &st))
		return WW_EIO;
	used = (off_t)(info.me_last_pgno + 1) * st.ms_psize;
	if (s->file_size - used >= (off_t)(ahead / 2))
		return WW_OK;
	if (mdb_env_get_fd(s->env, &fd) != 0 || fstat(fd, &fst) != 0)
		return WW_EIO;
	s->file_size = (long long)fst.st_size;
	if (fst.st_size - used >= (off_t)(ahead / 2))
		return WW_OK;
	end = used + (off_t)ahead;
	for (off = fst.st_size; off < end; off += (off_t)sizeof(zeros)) {
		size_t n = sizeof(zeros);
		if (end - off < (off_t)n)
			n = (size_t)(end - off);
		if (pwrite(fd, zeros, n, off) != (ssize_t)n)
			return segment_err(errno);
	}
	if (fdatasync(fd) != 0)
		return segment_err(errno);
	s->file_size = (long long)end;
	return WW_OK;
}

int
segment_last(struct segment *s, MDB_txn *txn, uint64_t *seq, MDB_val *val)
{
	MDB_cursor *cur;
	MDB_val key;
	int rc;

	rc = mdb_cursor_open(txn, s->records, &cur);
	if (rc != 0)
		return segment_err(rc);
	rc = mdb_cursor_get(cur, &key, val, MDB_LAST);
	mdb_cursor_close(cur);
	if (rc != 0)
		return segment_err(rc);
	if (key.mv_size != 8)
		return WW_ECORRUPT;
	*seq = 0;
	for (size_t i = 0; i < 8; i++)
		*seq = (*seq << 8) | ((const uint8_t *)key.mv_data)[i];
	return WW_OK;
}
