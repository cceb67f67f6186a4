/*
 * audit.h: wwjournal's subcommands over an open journal reader.  main()
 * (store/wwjournal.c) parses the command line into a struct audit and
 * calls one of these; each writes its results to a->out, its errors to
 * stderr (naming the record), and returns a WW_* code that main() turns
 * into the documented exit status (wwjournal(1), "EXIT STATUS").
 */
#ifndef WW_AUDIT_H
#define WW_AUDIT_H

#include <stdint.h>
#include <stdio.h>

#include "store/export.h"
#include "store/filter.h"
#include "store/journal.h"

enum audit_format {
	AUDIT_JSONL = 0,
	AUDIT_CSV,
};

struct audit {
	struct journal_reader *r; /* borrowed */
	const char *dir;          /* the journal directory (for messages) */
	struct filter filter;
	int kind_given;           /* --kind was given (export: any kind) */
	uint64_t limit;           /* --limit, 0: none */
	int json;                 /* --json: machine-readable output */
	int color;                /* ANSI colours on a->out */
	int progress;             /* stderr is a terminal: progress bars */
	int out_tty;              /* out is a terminal */
	enum audit_format format; /* export --format */
	const char *checkpoints;  /* verify --checkpoints FILE, or NULL */
	int follow;               /* tail -f */
	uint64_t last;            /* list: stop at this seq (0: the head) */
	uint64_t first;           /* scans start here (0: at 1) */
	FILE *out;                /* borrowed: stdout or -o FILE */
	int unreadable;           /* set when an outcome could not be read */
};

int audit_list(struct audit *a);
int audit_show(struct audit *a, uint64_t seq);
int audit_export(struct audit *a);
int audit_search(struct audit *a, const char *text);
int audit_verify(struct audit *a);
int audit_tail(struct audit *a);
int audit_blob(struct audit *a, const char *hex);
/* store/report.c */
int report_stats(struct audit *a);
int report_replay(struct audit *a);
/*
 * Retro-hunt: re-judge every selected message (requests and callbacks
 * with a verdict) with the policy in policy_path, print each one whose
 * verdict would differ from the recorded one, then totals per rule.  The
 * journal is only read.  WW_EINVAL when the policy does not compile (its
 * diagnostics on stderr), WW_ENOTFOUND / WW_EIO when it cannot be read.
 */
int report_retro(struct audit *a, const char *policy_path);

/* Shared by audit.c and report.c. */

/* Write b to a->out; WW_EIO (reported once) when the write fails. */
int audit_write(struct audit *a, const struct export_buf *b);
/*
 * The OUTCOME answering rec when rec is a REQUEST (NULL if none).  An
 * unreadable outcome is reported on stderr and sets a->unreadable.
 */
Ww__Record *audit_outcome(struct audit *a, const Ww__Record *rec);
/* Report an unreadable record on stderr. */
void audit_bad_record(struct audit *a, uint64_t seq, const char *err);

/* A progress bar on stderr, redrawn at most ten times a second. */
struct audit_progress {
	const char *what;
	uint64_t last_ms;
	int shown;
};
void audit_progress(struct audit_progress *p, uint64_t done, uint64_t total);
void audit_progress_end(struct audit_progress *p);

#endif
