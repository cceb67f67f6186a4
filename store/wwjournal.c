/*
 * wwjournal.c: the auditors' tool -- command line, then one subcommand of
 * store/audit.c or store/report.c over a read-only journal reader.  It
 * only reads, so it runs safely while the gateway is writing.
 *
 * Exit status (wwjournal(1)): 0 ok, 1 integrity failure or not found,
 * 2 usage, 3 I/O or other failure.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ww.h"
#include "store/audit.h"

enum {
	EXIT_INTEGRITY = 1,
	EXIT_USAGE = 2,
	EXIT_IO = 3,
};

enum {
	OPT_SINCE = 256,
	OPT_UNTIL,
	OPT_SENDER,
	OPT_RECIPIENT,
	OPT_CHAT,
	OPT_ACTION,
	OPT_KIND,
	OPT_JSON,
	OPT_FORMAT,
	OPT_CHECKPOINTS,
	OPT_COLOR,
	OPT_NO_PROGRESS,
	OPT_POLICY,
};

static const char usage_text[] =
    "usage: wwjournal [-j DIR] COMMAND [options]\n"
    "\n"
    "Read, search, export and verify a wwgate journal (read-only; safe\n"
    "while the gateway is writing).\n"
    "\n"
    "commands:\n"
    "  list                      one line per record, oldest first\n"
    "  show SEQ                  one record in full, with its outcome\n"
    "  export --format jsonl|csv one object/row per request [-o FILE]\n"
    "  search TEXT               messages whose text contains TEXT\n"
    "                            (case-, width- and accent-form-blind)\n"
    "  verify [--checkpoints F]  recheck the hash chain and signatures\n"
    "  stats                     counts by kind, action, endpoint, sender,\n"
    "                            day\n"
    "  tail [-f]                 the newest records; -f follows new ones\n"
    "  replay                    conversations as transcripts, in time "
    "order\n"
    "  replay --policy FILE      retro-hunt: re-judge every message with\n"
    "                            FILE, list those whose verdict would\n"
    "                            change, totals per rule\n"
    "  blob SHA256 -o FILE       write a stored attachment\n"
    "\n"
    "options:\n"
    "  -j, --journal DIR    the journal directory ($WWJOURNAL_DIR)\n"
    "  --since T, --until T records at/after T, before T; T is a date\n"
    "                       (2026-11-25, 2026-11-25T10:30:00Z, "
    "...+08:00),\n"
    "                       a relative time (90s 15m 2h 3d 1w) or "
    "@EPOCH\n"
    "  --sender ID  --recipient ID  --chat ID\n"
    "  --action allow|alert|redact|block   --kind request|outcome|...\n"
    "  -n, --limit N        list/tail: the newest N; others: the first N\n"
    "  --policy FILE        replay: the candidate policy to re-judge with\n"
    "  --json               machine-readable output (JSON lines)\n"
    "  -o, --output FILE    write to FILE (created mode 0600)\n"
    "  --color auto|always|never   --no-progress\n"
    "  -h, --help   -V, --version\n"
    "\n"
    "examples:\n"
    "  wwjournal -j /var/lib/wwgate/journal list --since 2h\n"
    "  wwjournal -j J list --action block --since 2026-11-01 --until "
    "2026-12-01\n"
    "  wwjournal -j J show 1042\n"
    "  wwjournal -j J export --format csv --sender zhangsan -o out.csv\n"
    "  wwjournal -j J export --kind request | jq 'select(.outcome == "
    "null)'\n"
    "  wwjournal -j J search 'contract' --chat wrOgQhDgAA\n"
    "  wwjournal -j J verify --checkpoints /srv/offsite/checkpoints\n"
    "  wwjournal -j J replay --since 1d\n"
    "  wwjournal -j J replay --policy candidate.yaml --since 30d\n"
    "  wwjournal -j J tail -f --action block\n"
    "\n"
    "exit status: 0 ok, 1 integrity failure or not found, 2 usage,\n"
    "3 I/O error.  See wwjournal(1) for the export fields.\n";

static const struct option long_opts[] = {
    {"journal", required_argument, NULL, 'j'},
    {"since", required_argument, NULL, OPT_SINCE},
    {"until", required_argument, NULL, OPT_UNTIL},
    {"sender", required_argument, NULL, OPT_SENDER},
    {"recipient", required_argument, NULL, OPT_RECIPIENT},
    {"chat", required_argument, NULL, OPT_CHAT},
    {"action", required_argument, NULL, OPT_ACTION},
    {"kind", required_argument, NULL, OPT_KIND},
    {"limit", required_argument, NULL, 'n'},
    {"json", no_argument, NULL, OPT_JSON},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"output", required_argument, NULL, 'o'},
    {"checkpoints", required_argument, NULL, OPT_CHECKPOINTS},
    {"follow", no_argument, NULL, 'f'},
    {"color", required_argument, NULL, OPT_COLOR},
    {"colour", required_argument, NULL, OPT_COLOR},
    {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
    {"policy", required_argument, NULL, OPT_POLICY},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

struct cli {
	struct audit a;
	const char *dir, *output, *color, *format;
	const char *policy; /* replay --policy FILE */
	int no_progress;
};

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "wwjournal: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'wwjournal --help'.\n");
	return EXIT_USAGE;
}

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
parse_u64(const char *s, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

/* One option that narrows which records are read.  0 or an exit code. */
static int
parse_filter_opt(struct cli *c, int opt, const char *arg)
{
	struct filter *f = &c->a.filter;

	switch (opt) {
	case OPT_SINCE:
		if (filter_parse_time(arg, now_ns(), &f->since_ns) != WW_OK)
			return usage_error("--since: cannot read time \"%s\"",
			                   arg);
		break;
	case OPT_UNTIL:
		if (filter_parse_time(arg, now_ns(), &f->until_ns) != WW_OK)
			return usage_error("--until: cannot read time \"%s\"",
			                   arg);
		break;
	case OPT_SENDER:
		f->sender = arg;
		break;
	case OPT_RECIPIENT:
		f->recipient = arg;
		break;
	case OPT_CHAT:
		f->chat = arg;
		break;
	case OPT_ACTION:
		if ((f->action = record_action_parse(arg)) < 0)
			return usage_error("--action: \"%s\" is not one of "
			                   "allow, alert, redact, block",
			                   arg);
		break;
	case OPT_KIND:
		if ((f->kind = record_kind_parse(arg)) < 0)
			return usage_error("--kind: \"%s\" is not one of "
			                   "request, outcome, tunnel, "
			                   "callback, policy, checkpoint",
			                   arg);
		c->a.kind_given = 1;
		break;
	}
	return 0;
}

static int
parse_opt(struct cli *c, int opt, const char *arg)
{
	switch (opt) {
	case 'j':
		c->dir = arg;
		return 0;
	case 'n':
		if (parse_u64(arg, &c->a.limit) != 0 || c->a.limit == 0)
			return usage_error("--limit: \"%s\" is not a positive "
			                   "number",
			                   arg);
		return 0;
	case 'o':
		c->output = arg;
		return 0;
	case 'f':
		c->a.follow = 1;
		return 0;
	case OPT_JSON:
		c->a.json = 1;
		return 0;
	case OPT_FORMAT:
		c->format = arg;
		return 0;
	case OPT_CHECKPOINTS:
		c->a.checkpoints = arg;
		return 0;
	case OPT_COLOR:
		c->color = arg;
		return 0;
	case OPT_NO_PROGRESS:
		c->no_progress = 1;
		return 0;
	case OPT_POLICY:
		c->policy = arg;
		return 0;
	}
	return parse_filter_opt(c, opt, arg);
}

/* -1: go on; otherwise exit with that status. */
static int
parse_args(struct cli *c, int argc, char **argv)
{
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "j:n:o:fhV", long_opts, NULL)) !=
	       -1) {
		if (opt == 'h') {
			fputs(usage_text, stdout);
			return 0;
		}
		if (opt == 'V') {
			printf("wwjournal (wwgate) %s, record schema %d\n",
			       PACKAGE_VERSION, RECORD_SCHEMA);
			return 0;
		}
		if (opt == '?')
			return usage_error("%s", "invalid option");
		if ((rc = parse_opt(c, opt, optarg)) != 0)
			return rc;
	}
	if (c->dir == NULL)
		c->dir = getenv("WWJOURNAL_DIR");
	if (optind >= argc)
		return usage_error("%s", "no command given");
	if (c->dir == NULL || c->dir[0] == '\0')
		return usage_error("%s", "no journal: give -j DIR (or set "
		                         "WWJOURNAL_DIR)");
	return -1;
}

/* The exit status for a subcommand's WW_* result. */
static int
exit_status(int rc)
{
	switch (rc) {
	case WW_OK:
		return 0;
	case WW_ECORRUPT:
	case WW_ECRYPTO:
	case WW_EVERSION:
	case WW_ENOTFOUND:
		return EXIT_INTEGRITY;
	case WW_EINVAL:
		return EXIT_USAGE;
	default:
		return EXIT_IO;
	}
}

/* Export files hold message bodies: private to the auditor (0600). */
static int
open_output(struct cli *c, FILE **out)
{
	int fd;

	*out = stdout;
	if (c->output == NULL || strcmp(c->output, "-") == 0)
		return 0;
	fd = open(c->output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || (*out = fdopen(fd, "w")) == NULL) {
		fprintf(stderr, "wwjournal: %s: %s\n", c->output,
		        strerror(errno));
		if (fd >= 0)
			close(fd);
		return EXIT_IO;
	}
	return 0;
}

/* Colours and progress: only for people looking at a terminal. */
static int
setup_terminal(struct cli *c)
{
	FILE *out = c->a.out;

	if (c->color == NULL || strcmp(c->color, "auto") == 0)
		c->a.color = out == stdout && isatty(STDOUT_FILENO) &&
		             getenv("NO_COLOR") == NULL;
	else if (strcmp(c->color, "always") == 0)
		c->a.color = 1;
	else if (strcmp(c->color, "never") == 0)
		c->a.color = 0;
	else
		return usage_error("--color: \"%s\" is not auto, always or "
		                   "never",
		                   c->color);
	if (c->a.json)
		c->a.color = 0;
	/* A bar between the lines of an export to the same terminal would
	 * garble it; verify prints only after the bar is gone. */
	c->a.progress = !c->no_progress && isatty(STDERR_FILENO);
	c->a.out_tty = isatty(fileno(out));
	return 0;
}

static int
want_args(const char *cmd, int have, int want)
{
	if (have == want)
		return 0;
	fprintf(stderr, "wwjournal: %s takes %d argument%s, got %d\n", cmd,
	        want, want == 1 ? "" : "s", have);
	fprintf(stderr, "Try 'wwjournal --help'.\n");
	return EXIT_USAGE;
}

static int
run_export(struct cli *c)
{
	if (c->format == NULL || strcmp(c->format, "jsonl") == 0 ||
	    strcmp(c->format, "json") == 0)
		c->a.format = AUDIT_JSONL;
	else if (strcmp(c->format, "csv") == 0)
		c->a.format = AUDIT_CSV;
	else
		return usage_error("--format: \"%s\" is not jsonl or csv",
		                   c->format);
	return exit_status(audit_export(&c->a));
}

static int
run_show(struct cli *c, const char *arg)
{
	uint64_t seq;

	if (parse_u64(arg, &seq) != 0 || seq == 0)
		return usage_error("show: \"%s\" is not a sequence number",
		                   arg);
	return exit_status(audit_show(&c->a, seq));
}

static int
run_blob(struct cli *c, const char *arg)
{
	if (c->output == NULL && isatty(STDOUT_FILENO))
		return usage_error("%s", "blob: give -o FILE (refusing to "
		                         "write binary data to a terminal)");
	return exit_status(audit_blob(&c->a, arg));
}

/* Run cmd with its n positional arguments. */
static int
dispatch(struct cli *c, const char *cmd, char **args, int n)
{
	int one = strcmp(cmd, "show") == 0 || strcmp(cmd, "search") == 0 ||
	          strcmp(cmd, "blob") == 0;
	int rc = want_args(cmd, n, one ? 1 : 0);

	if (rc != 0)
		return rc;
	if (c->policy != NULL && strcmp(cmd, "replay") != 0)
		return usage_error("--policy is an option of replay only");
	if (c->policy != NULL)
		return exit_status(report_retro(&c->a, c->policy));
	if (strcmp(cmd, "list") == 0)
		return exit_status(audit_list(&c->a));
	if (strcmp(cmd, "show") == 0)
		return run_show(c, args[0]);
	if (strcmp(cmd, "export") == 0)
		return run_export(c);
	if (strcmp(cmd, "search") == 0)
		return exit_status(audit_search(&c->a, args[0]));
	if (strcmp(cmd, "verify") == 0)
		return exit_status(audit_verify(&c->a));
	if (strcmp(cmd, "stats") == 0)
		return exit_status(report_stats(&c->a));
	if (strcmp(cmd, "tail") == 0)
		return exit_status(audit_tail(&c->a));
	if (strcmp(cmd, "replay") == 0)
		return exit_status(report_replay(&c->a));
	return run_blob(c, args[0]);
}

static int
known_command(const char *cmd)
{
	static const char *const cmds[] = {"list",   "show",   "export",
	                                   "search", "verify", "stats",
	                                   "tail",   "replay", "blob"};

	for (size_t i = 0; i < WW_NELEM(cmds); i++)
		if (strcmp(cmd, cmds[i]) == 0)
			return 1;
	return 0;
}

static int
open_reader(struct cli *c)
{
	char err[512] = "";
	int rc;

	rc = journal_reader_open(c->dir, &c->a.r, err, sizeof(err));
	if (rc == WW_OK)
		return 0;
	fprintf(stderr, "wwjournal: cannot open journal %s: %s\n", c->dir,
	        err[0] ? err : ww_strerror(rc));
	return rc == WW_ENOTFOUND ? EXIT_INTEGRITY : exit_status(rc);
}

int
main(int argc, char **argv)
{
	struct cli c;
	const char *cmd;
	int rc;

	memset(&c, 0, sizeof(c));
	filter_init(&c.a.filter);
	if ((rc = parse_args(&c, argc, argv)) >= 0)
		return rc;
	cmd = argv[optind];
	if (!known_command(cmd))
		return usage_error("unknown command \"%s\"", cmd);
	c.a.dir = c.dir;
	if ((rc = open_output(&c, &c.a.out)) != 0)
		return rc;
	if ((rc = setup_terminal(&c)) == 0 && (rc = open_reader(&c)) == 0) {
		/* --since: skip what is older.  On an error the scans start
		   at 1, where they meet and report it themselves. */
		(void)filter_first_seq(&c.a.filter, c.a.r, &c.a.first);
		rc = dispatch(&c, cmd, argv + optind + 1, argc - optind - 1);
		if (rc == 0 && c.a.unreadable)
			rc = EXIT_INTEGRITY;
		journal_reader_close(c.a.r);
	}
	if (fflush(c.a.out) != 0 || (c.a.out != stdout && fclose(c.a.out))) {
		fprintf(stderr, "wwjournal: write: %s\n", strerror(errno));
		if (rc == 0)
			rc = EXIT_IO;
	}
	return rc;
}
