/* SPDX-License-Identifier: MIT */
/*
 * Filter-file parser. Strict on purpose: a typo in a scenario must fail
 * loudly with a line number rather than silently test something else.
 */
#include "filterfile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define MAX_TOKENS 16

struct parser {
	struct ff_file *ff;
	unsigned int line;
	int seen_header;
	int seen_vcpus;
	unsigned int vcpus_line;
	unsigned int no_pmu_line[FF_MAX_VCPUS];
	int seen_measure;
	unsigned int measure_line;
	size_t cap;
	char *err;
	size_t errlen;
};

static int fail(struct parser *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(p->err, p->errlen, "line %u: ", p->line);

	if (n < 0 || (size_t)n >= p->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - n, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Decimal or 0x hex only. strtoul(base 0) would read "010" as octal and
 * accept signs and spaces, none of which the format allows.
 */
static int parse_number(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;
	int base = 10;
	int digits = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (; *s; s++, digits++) {
		unsigned int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			return -1;
		/* v * base + d > max, written so that nothing can wrap */
		if (d > max || v > (max - d) / base)
			return -1;
		v = v * base + d;
	}
	if (!digits)
		return -1;
	*out = v;
	return 0;
}

static int number_arg(struct parser *p, const char *what, const char *tok,
		      unsigned long max, unsigned long *out)
{
	if (parse_number(tok, max, out))
		return fail(p, "%s '%s' is not a number in 0..%lu (0x%lx)",
			    what, tok, max, max);
	return 0;
}

static int expect_args(struct parser *p, char **tok, int ntok, int want)
{
	if (ntok - 1 != want)
		return fail(p, "'%s' takes %d argument%s, got %d", tok[0],
			    want, want == 1 ? "" : "s", ntok - 1);
	return 0;
}

static int vcpu_arg(struct parser *p, const char *tok, unsigned int *out)
{
	unsigned long v;

	/* Checked against the final "vcpus" value once the file is read. */
	if (number_arg(p, "vcpu", tok, FF_MAX_VCPUS - 1, &v))
		return -1;
	*out = v;
	return 0;
}

static int add_step(struct parser *p, const struct ff_step *step)
{
	struct ff_file *ff = p->ff;

	if (ff->nsteps == FF_MAX_STEPS)
		return fail(p, "more than %d steps", FF_MAX_STEPS);
	if (ff->nsteps == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct ff_step *s = realloc(ff->steps, cap * sizeof(*s));

		if (!s)
			return fail(p, "out of memory");
		ff->steps = s;
		p->cap = cap;
	}
	ff->steps[ff->nsteps++] = *step;
	return 0;
}

static int do_header(struct parser *p, char **tok, int ntok)
{
	unsigned long v;

	if (p->seen_header)
		return fail(p, "duplicate 'pmu-harness-filter' line");
	if (expect_args(p, tok, ntok, 1) ||
	    number_arg(p, "format version", tok[1], 0xffff, &v))
		return -1;
	if (v != FF_FORMAT_VERSION)
		return fail(p, "unsupported format version %lu (want %d)",
			    v, FF_FORMAT_VERSION);
	p->seen_header = 1;
	return 0;
}

static int do_vcpus(struct parser *p, char **tok, int ntok)
{
	unsigned long v;

	if (p->seen_vcpus)
		return fail(p, "duplicate 'vcpus' line");
	if (expect_args(p, tok, ntok, 1) ||
	    number_arg(p, "vcpus", tok[1], FF_MAX_VCPUS, &v))
		return -1;
	if (v < 1)
		return fail(p, "vcpus must be 1..%d", FF_MAX_VCPUS);
	p->ff->vcpus = v;
	p->seen_vcpus = 1;
	p->vcpus_line = p->line;
	return 0;
}

static int do_measure(struct parser *p, char **tok, int ntok)
{
	struct ff_file *ff = p->ff;
	unsigned int v, i;
	int n;

	if (p->seen_measure)
		return fail(p, "duplicate 'measure' line");
	if (ntok < 2 || ntok - 1 > FF_MAX_VCPUS)
		return fail(p, "'measure' takes 1 to %d vCPUs, got %d", FF_MAX_VCPUS, ntok - 1);
	ff->nmeasure = 0;
	for (n = 1; n < ntok; n++) {
		if (vcpu_arg(p, tok[n], &v))
			return -1;
		for (i = 0; i < ff->nmeasure; i++)
			if (ff->measure[i] == v)
				return fail(p, "vCPU %u is measured twice", v);
		ff->measure[ff->nmeasure++] = v;
	}
	p->seen_measure = 1;
	p->measure_line = p->line;
	return 0;
}

static int do_no_pmu(struct parser *p, char **tok, int ntok)
{
	unsigned int v;

	if (expect_args(p, tok, ntok, 1) || vcpu_arg(p, tok[1], &v))
		return -1;
	p->ff->no_pmu_mask |= 1u << v;
	p->no_pmu_line[v] = p->line;
	return 0;
}

static int do_filter(struct parser *p, char **tok, int ntok)
{
	struct ff_step s = { .op = FF_OP_FILTER, .line = p->line };
	unsigned long base, nevents, action;

	if (expect_args(p, tok, ntok, 4) || vcpu_arg(p, tok[1], &s.vcpu) ||
	    number_arg(p, "base event", tok[2], 0xffff, &base) ||
	    number_arg(p, "nevents", tok[3], 0xffff, &nevents))
		return -1;
	if (!strcmp(tok[4], "allow"))
		action = 0;
	else if (!strcmp(tok[4], "deny"))
		action = 1;
	else if (parse_number(tok[4], 0xff, &action))
		return fail(p, "action '%s' is not allow, deny or a number in 0..255",
			    tok[4]);
	s.base = base;
	s.nevents = nevents;
	s.action = action;
	return add_step(p, &s);
}

static int do_set_pmu(struct parser *p, char **tok, int ntok)
{
	struct ff_step s = { .op = FF_OP_SET_PMU, .line = p->line };

	if (expect_args(p, tok, ntok, 2) || vcpu_arg(p, tok[1], &s.vcpu))
		return -1;
	if (!strcmp(tok[2], "host"))
		s.pmu = FF_PMU_HOST;
	else if (!strcmp(tok[2], "other"))
		s.pmu = FF_PMU_OTHER;
	else
		return fail(p, "PMU '%s' is not host or other", tok[2]);
	return add_step(p, &s);
}

static int do_vcpu_step(struct parser *p, char **tok, int ntok, enum ff_op op)
{
	struct ff_step s = { .op = op, .line = p->line };

	if (expect_args(p, tok, ntok, 1) || vcpu_arg(p, tok[1], &s.vcpu))
		return -1;
	return add_step(p, &s);
}

/* "init V" or "init V no-irq" */
static int do_init(struct parser *p, char **tok, int ntok)
{
	struct ff_step s = { .op = FF_OP_INIT, .line = p->line, .irq = 1 };

	if (ntok != 2 && ntok != 3)
		return fail(p, "'init' takes 1 or 2 arguments, got %d", ntok - 1);
	if (vcpu_arg(p, tok[1], &s.vcpu))
		return -1;
	if (ntok == 3 && strcmp(tok[2], "no-irq"))
		return fail(p, "init option '%s' is not no-irq", tok[2]);
	s.irq = ntok == 2;
	return add_step(p, &s);
}

/* "pmuver N": the value every vCPU's ID_AA64DFR0_EL1.PMUVer is set to */
static int do_pmuver(struct parser *p, char **tok, int ntok)
{
	struct ff_step s = { .op = FF_OP_PMUVER, .line = p->line };
	unsigned long v;

	if (expect_args(p, tok, ntok, 1) || number_arg(p, "PMUVer", tok[1], 0xf, &v))
		return -1;
	s.pmuver = v;
	return add_step(p, &s);
}

static int parse_event_list(struct parser *p, char *list, struct ff_workload *w)
{
	char *save = NULL;
	char *ev;

	w->nevents = 0;
	if (!strcmp(list, "-"))
		return 0;
	if (list[0] == ',' || list[strlen(list) - 1] == ',' || strstr(list, ",,"))
		return fail(p, "empty entry in event list '%s'", list);
	for (ev = strtok_r(list, ",", &save); ev; ev = strtok_r(NULL, ",", &save)) {
		unsigned long v;

		if (w->nevents == FF_MAX_EVENTS)
			return fail(p, "more than %d workload events", FF_MAX_EVENTS);
		if (number_arg(p, "event", ev, 0xffff, &v))
			return -1;
		w->events[w->nevents++] = v;
	}
	return 0;
}

static int do_workload(struct parser *p, char **tok, int ntok)
{
	struct ff_workload *w = &p->ff->workload;
	int i;

	if (p->ff->has_workload)
		return fail(p, "duplicate 'workload' line");
	if (ntok < 2)
		return fail(p, "'workload' needs an event list (or '-')");
	w->cycles = 0;
	w->loops = FF_DEFAULT_LOOPS;
	w->pmccfiltr = 0;
	if (parse_event_list(p, tok[1], w))
		return -1;
	for (i = 2; i < ntok; i++) {
		unsigned long v;

		if (!strncmp(tok[i], "cycles=", 7)) {
			if (number_arg(p, "cycles", tok[i] + 7, 1, &v))
				return -1;
			w->cycles = v;
		} else if (!strncmp(tok[i], "loops=", 6)) {
			if (number_arg(p, "loops", tok[i] + 6, 0xffffffffUL, &v))
				return -1;
			w->loops = v;
		} else if (!strncmp(tok[i], "pmccfiltr=", 10)) {
			if (number_arg(p, "pmccfiltr", tok[i] + 10,
				       FF_PMCCFILTR_EVENT_FIELD, &v))
				return -1;
			w->pmccfiltr = v;
		} else {
			return fail(p, "unknown workload option '%s'", tok[i]);
		}
	}
	p->ff->has_workload = 1;
	return 0;
}

static int do_line(struct parser *p, char *line)
{
	char *tok[MAX_TOKENS];
	char *save = NULL;
	char *hash = strchr(line, '#');
	int ntok = 0;
	char *t;

	if (hash)
		*hash = '\0';
	for (t = strtok_r(line, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
		if (ntok == MAX_TOKENS)
			return fail(p, "too many tokens");
		tok[ntok++] = t;
	}
	if (!ntok)
		return 0;

	if (!p->seen_header && strcmp(tok[0], "pmu-harness-filter"))
		return fail(p, "first directive must be 'pmu-harness-filter %d', got '%s'",
			    FF_FORMAT_VERSION, tok[0]);
	if (!strcmp(tok[0], "pmu-harness-filter"))
		return do_header(p, tok, ntok);
	if (!strcmp(tok[0], "vcpus"))
		return do_vcpus(p, tok, ntok);
	if (!strcmp(tok[0], "no-pmu-vcpu"))
		return do_no_pmu(p, tok, ntok);
	if (!strcmp(tok[0], "measure"))
		return do_measure(p, tok, ntok);
	if (!strcmp(tok[0], "filter"))
		return do_filter(p, tok, ntok);
	if (!strcmp(tok[0], "init"))
		return do_init(p, tok, ntok);
	if (!strcmp(tok[0], "has-attr"))
		return do_vcpu_step(p, tok, ntok, FF_OP_HAS_ATTR);
	if (!strcmp(tok[0], "pmuver"))
		return do_pmuver(p, tok, ntok);
	if (!strcmp(tok[0], "run"))
		return do_vcpu_step(p, tok, ntok, FF_OP_RUN);
	if (!strcmp(tok[0], "set-pmu"))
		return do_set_pmu(p, tok, ntok);
	if (!strcmp(tok[0], "workload"))
		return do_workload(p, tok, ntok);
	return fail(p, "unknown directive '%s'", tok[0]);
}

/* Checks that need the whole file: vcpu indexes against "vcpus". */
static int check_file(struct parser *p)
{
	struct ff_file *ff = p->ff;
	unsigned int v;
	size_t i;

	if (!p->seen_header) {
		snprintf(p->err, p->errlen,
			 "line %u: end of file before the 'pmu-harness-filter %d' line",
			 p->line, FF_FORMAT_VERSION);
		return -1;
	}
	for (i = 0; i < ff->nsteps; i++) {
		p->line = ff->steps[i].line;
		if (ff->steps[i].vcpu >= ff->vcpus)
			return fail(p, "vcpu %u out of range (vcpus %u)",
				    ff->steps[i].vcpu, ff->vcpus);
	}
	p->line = p->measure_line;
	for (i = 0; i < ff->nmeasure; i++)
		if (ff->measure[i] >= ff->vcpus)
			return fail(p, "measured vcpu %u out of range (vcpus %u)",
				    ff->measure[i], ff->vcpus);
	for (v = 0; v < FF_MAX_VCPUS; v++) {
		p->line = p->no_pmu_line[v];
		if ((ff->no_pmu_mask & (1u << v)) && v >= ff->vcpus)
			return fail(p, "no-pmu-vcpu %u out of range (vcpus %u)",
				    v, ff->vcpus);
	}
	return 0;
}

static void set_defaults(struct ff_file *ff)
{
	memset(ff, 0, sizeof(*ff));
	ff->vcpus = 1;
	ff->nmeasure = 1;	/* measure[0] = 0 by the memset */
	/* The example workload of docs/filter-file.rst. */
	ff->workload.nevents = 2;
	ff->workload.events[0] = 0x11;
	ff->workload.events[1] = 0x08;
	ff->workload.cycles = 1;
	ff->workload.loops = FF_DEFAULT_LOOPS;
}

int ff_parse_stream(FILE *f, struct ff_file *out, char *err, size_t errlen)
{
	struct parser p = { .ff = out, .err = err, .errlen = errlen };
	char *line = NULL;
	size_t len = 0;
	ssize_t n;
	int ret = 0;

	set_defaults(out);
	while ((n = getline(&line, &len, f)) >= 0) {
		p.line++;
		if (strlen(line) != (size_t)n)
			ret = fail(&p, "NUL byte in line");
		else
			ret = do_line(&p, line);
		if (ret)
			break;
	}
	if (!ret && ferror(f)) {
		snprintf(err, errlen, "line %u: read error: %s", p.line, strerror(errno));
		ret = -1;
	}
	free(line);
	if (!ret)
		ret = check_file(&p);
	if (ret)
		ff_free(out);
	return ret;
}

int ff_parse_path(const char *path, struct ff_file *out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	int ret;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	ret = ff_parse_stream(f, out, err, errlen);
	fclose(f);
	return ret;
}

void ff_free(struct ff_file *ff)
{
	free(ff->steps);
	ff->steps = NULL;
	ff->nsteps = 0;
}

const char *ff_op_name(enum ff_op op)
{
	switch (op) {
	case FF_OP_FILTER:
		return "filter";
	case FF_OP_INIT:
		return "init";
	case FF_OP_RUN:
		return "run";
	case FF_OP_SET_PMU:
		return "set-pmu";
	case FF_OP_HAS_ATTR:
		return "has-attr";
	case FF_OP_PMUVER:
		return "pmuver";
	}
	return "?";
}

const char *ff_errno_name(int err)
{
	static __thread char buf[16];

	switch (err) {
	case 0: return "";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case ESRCH: return "ESRCH";
	case EINTR: return "EINTR";
	case EIO: return "EIO";
	case ENXIO: return "ENXIO";
	case E2BIG: return "E2BIG";
	case ENOEXEC: return "ENOEXEC";
	case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case ENODEV: return "ENODEV";
	case EINVAL: return "EINVAL";
	case EMFILE: return "EMFILE";
	case ENOTTY: return "ENOTTY";
	case ENOSPC: return "ENOSPC";
	case ERANGE: return "ERANGE";
	case ENOSYS: return "ENOSYS";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case ETIMEDOUT: return "ETIMEDOUT";
	}
	snprintf(buf, sizeof(buf), "E%d", err);
	return buf;
}
