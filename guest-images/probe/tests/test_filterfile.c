/* SPDX-License-Identifier: MIT */
/*
 * Host-side unit test of the filter-file parser: `make test`.
 * Good files must parse to the expected steps; every malformed line must
 * be rejected with its line number.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../filterfile.h"

static int failures;

static int parse(const char *text, struct ff_file *ff, char *err, size_t errlen)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int ret;

	if (!f) {
		perror("fmemopen");
		exit(1);
	}
	ret = ff_parse_stream(f, ff, err, errlen);
	fclose(f);
	return ret;
}

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: FAIL %s\n", __FILE__, __LINE__, #cond); \
		failures++; \
	} \
} while (0)

static void test_full_example(void)
{
	const char *text =
		"# scenario\n"
		"pmu-harness-filter 1   # version\n"
		"\n"
		"vcpus 2\n"
		"no-pmu-vcpu 1\n"
		"filter 0 0x11 1 deny\n"
		"filter 1 8 0xffff allow\n"
		"filter 0 0 1 7\n"
		"init 0\n"
		"run 0\n"
		"set-pmu 1 host\n"
		"set-pmu 0 other\n"
		"measure 1 0\n"
		"workload 0x11,0x08 cycles=1 loops=200000\n";
	struct ff_file ff;
	char err[256];

	CHECK(parse(text, &ff, err, sizeof(err)) == 0);
	CHECK(ff.vcpus == 2);
	CHECK(ff.nmeasure == 2 && ff.measure[0] == 1 && ff.measure[1] == 0);
	CHECK(ff.nsteps == 7 && ff.steps[5].op == FF_OP_SET_PMU && ff.steps[5].vcpu == 1 &&
	      ff.steps[5].pmu == FF_PMU_HOST && ff.steps[6].pmu == FF_PMU_OTHER);
	CHECK(ff.no_pmu_mask == 2);
	CHECK(ff.nsteps == 7);
	CHECK(ff.steps[0].op == FF_OP_FILTER && ff.steps[0].line == 6 &&
	      ff.steps[0].base == 0x11 && ff.steps[0].nevents == 1 &&
	      ff.steps[0].action == 1);
	CHECK(ff.steps[1].vcpu == 1 && ff.steps[1].nevents == 0xffff &&
	      ff.steps[1].action == 0);
	CHECK(ff.steps[2].action == 7);
	CHECK(ff.steps[3].op == FF_OP_INIT && ff.steps[4].op == FF_OP_RUN);
	CHECK(ff.has_workload && ff.workload.nevents == 2 &&
	      ff.workload.events[1] == 8 && ff.workload.cycles == 1 &&
	      ff.workload.loops == 200000);
	ff_free(&ff);
}

/* The VM-setup steps: PMUVer, HAS_DEVICE_ATTR, INIT without the IRQ. */
static void test_setup_steps(void)
{
	const char *text =
		"pmu-harness-filter 1\n"
		"vcpus 2\n"
		"pmuver 0x1\n"
		"has-attr 1\n"
		"init 1 no-irq\n"
		"init 0\n";
	struct ff_file ff;
	char err[256];

	CHECK(parse(text, &ff, err, sizeof(err)) == 0);
	CHECK(ff.nsteps == 4);
	CHECK(ff.steps[0].op == FF_OP_PMUVER && ff.steps[0].pmuver == 1 &&
	      ff.steps[0].line == 3);
	CHECK(ff.steps[1].op == FF_OP_HAS_ATTR && ff.steps[1].vcpu == 1);
	CHECK(ff.steps[2].op == FF_OP_INIT && ff.steps[2].vcpu == 1 && !ff.steps[2].irq);
	CHECK(ff.steps[3].op == FF_OP_INIT && ff.steps[3].vcpu == 0 && ff.steps[3].irq);
	CHECK(!strcmp(ff_op_name(FF_OP_PMUVER), "pmuver") &&
	      !strcmp(ff_op_name(FF_OP_HAS_ATTR), "has-attr"));
	ff_free(&ff);
}

/* PMCCFILTR's event field, and workload events past the 10-bit space. */
static void test_workload_pmccfiltr(void)
{
	struct ff_file ff;
	char err[256];

	CHECK(parse("pmu-harness-filter 1\nworkload 0x411,0x400 cycles=1 pmccfiltr=0x8\n",
		    &ff, err, sizeof(err)) == 0);
	CHECK(ff.workload.nevents == 2 && ff.workload.events[0] == 0x411 &&
	      ff.workload.events[1] == 0x400 && ff.workload.pmccfiltr == 8);
	ff_free(&ff);

	CHECK(parse("pmu-harness-filter 1\nworkload - cycles=1 pmccfiltr=0xffff\n",
		    &ff, err, sizeof(err)) == 0);
	CHECK(ff.workload.pmccfiltr == 0xffff);
	ff_free(&ff);

	CHECK(parse("pmu-harness-filter 1\nworkload - cycles=1\n", &ff, err, sizeof(err)) == 0);
	CHECK(ff.workload.pmccfiltr == 0);
	ff_free(&ff);
}

static void test_defaults(void)
{
	struct ff_file ff;
	char err[256];

	CHECK(parse("pmu-harness-filter 1\n", &ff, err, sizeof(err)) == 0);
	CHECK(ff.vcpus == 1 && ff.nsteps == 0 && !ff.has_workload);
	CHECK(ff.nmeasure == 1 && ff.measure[0] == 0);
	CHECK(ff.workload.nevents == 2 && ff.workload.cycles == 1 &&
	      ff.workload.loops == FF_DEFAULT_LOOPS);
	ff_free(&ff);

	CHECK(parse("pmu-harness-filter 1\nworkload -\n", &ff, err, sizeof(err)) == 0);
	CHECK(ff.workload.nevents == 0 && ff.workload.cycles == 0 &&
	      ff.workload.loops == FF_DEFAULT_LOOPS);
	ff_free(&ff);
}

/* Each bad file must fail and name the expected line. */
static void test_rejects(void)
{
	static const struct {
		const char *text;
		const char *want;	/* prefix of the message */
	} cases[] = {
		{ "", "line 0:" },
		{ "# only a comment\n", "line 1:" },
		{ "vcpus 1\n", "line 1:" },
		{ "pmu-harness-filter 2\n", "line 1:" },
		{ "pmu-harness-filter 1\npmu-harness-filter 1\n", "line 2:" },
		{ "pmu-harness-filter 1\nfoo 1\n", "line 2:" },
		{ "pmu-harness-filter 1\nvcpus 0\n", "line 2:" },
		{ "pmu-harness-filter 1\nvcpus 9\n", "line 2:" },
		{ "pmu-harness-filter 1\nvcpus 1\nvcpus 1\n", "line 3:" },
		{ "pmu-harness-filter 1\nfilter 0 0x11 1\n", "line 2:" },
		{ "pmu-harness-filter 1\nfilter 0 0x11 1 deny x\n", "line 2:" },
		{ "pmu-harness-filter 1\nfilter 0 0x10000 1 deny\n", "line 2:" },
		{ "pmu-harness-filter 1\nfilter 0 0x11 65536 deny\n", "line 2:" },
		{ "pmu-harness-filter 1\nfilter 0 0x11 1 dney\n", "line 2:" },
		{ "pmu-harness-filter 1\nfilter 0 0x11 1 256\n", "line 2:" },
		{ "pmu-harness-filter 1\nfilter 0 -1 1 deny\n", "line 2:" },
		{ "pmu-harness-filter 1\nfilter 0 0x 1 deny\n", "line 2:" },
		{ "pmu-harness-filter 1\nfilter 0 1e 1 deny\n", "line 2:" },
		{ "pmu-harness-filter 1\nfilter 8 1 1 deny\n", "line 2:" },
		{ "pmu-harness-filter 1\n\nfilter 1 1 1 deny\n", "line 3:" },
		{ "pmu-harness-filter 1\nrun 1\nvcpus 1\n", "line 2:" },
		{ "pmu-harness-filter 1\nno-pmu-vcpu 3\nvcpus 2\n", "line 2:" },
		{ "pmu-harness-filter 1\ninit\n", "line 2:" },
		{ "pmu-harness-filter 1\ninit 0 irq\n", "line 2:" },
		{ "pmu-harness-filter 1\ninit 0 no-irq x\n", "line 2:" },
		{ "pmu-harness-filter 1\nhas-attr\n", "line 2:" },
		{ "pmu-harness-filter 1\nhas-attr 1\n", "line 2:" },
		{ "pmu-harness-filter 1\npmuver\n", "line 2:" },
		{ "pmu-harness-filter 1\npmuver 0x10\n", "line 2:" },
		{ "pmu-harness-filter 1\npmuver 1 2\n", "line 2:" },
		{ "pmu-harness-filter 1\nmeasure\n", "line 2:" },
		{ "pmu-harness-filter 1\nset-pmu 0\n", "line 2:" },
		{ "pmu-harness-filter 1\nset-pmu 0 8\n", "line 2:" },
		{ "pmu-harness-filter 1\nset-pmu 1 host\n", "line 2:" },
		{ "pmu-harness-filter 1\nmeasure 0 0\n", "line 2:" },
		{ "pmu-harness-filter 1\nmeasure 8\n", "line 2:" },
		{ "pmu-harness-filter 1\nmeasure 0 1 2 3 4 5 6 7 0\n", "line 2:" },
		{ "pmu-harness-filter 1\nmeasure 0\nmeasure 0\n", "line 3:" },
		{ "pmu-harness-filter 1\nmeasure 1\nvcpus 1\n", "line 2:" },
		{ "pmu-harness-filter 1\nworkload\n", "line 2:" },
		{ "pmu-harness-filter 1\nworkload 0x11,,8\n", "line 2:" },
		{ "pmu-harness-filter 1\nworkload 0x11,\n", "line 2:" },
		{ "pmu-harness-filter 1\nworkload 0x10000\n", "line 2:" },
		{ "pmu-harness-filter 1\nworkload 1 cycles=2\n", "line 2:" },
		{ "pmu-harness-filter 1\nworkload 1 loops=0x100000000\n", "line 2:" },
		{ "pmu-harness-filter 1\nworkload 1 speed=3\n", "line 2:" },
		{ "pmu-harness-filter 1\nworkload 1 pmccfiltr=0x10000\n", "line 2:" },
		{ "pmu-harness-filter 1\nworkload 1 pmccfiltr=0x80000000\n", "line 2:" },
		{ "pmu-harness-filter 1\nworkload 1 pmccfiltr=\n", "line 2:" },
		{ "pmu-harness-filter 1\nworkload 1\nworkload 1\n", "line 3:" },
		{ "pmu-harness-filter 1\nworkload 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,"
		  "16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n", "line 2:" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ff_file ff;
		char err[256] = "";

		if (parse(cases[i].text, &ff, err, sizeof(err)) == 0) {
			fprintf(stderr, "case %zu: accepted: %s", i, cases[i].text);
			failures++;
			ff_free(&ff);
		} else if (strncmp(err, cases[i].want, strlen(cases[i].want))) {
			fprintf(stderr, "case %zu: message '%s', want prefix '%s'\n",
				i, err, cases[i].want);
			failures++;
		}
	}
}

/*
 * Only "\n" ends a line: a comment (the scenario's file name is written into
 * one) runs on past \r, \v, \f and the bytes of NEL and U+2028, so none of
 * them can start a directive.
 */
static void test_comment_runs_to_newline(void)
{
	const char *text =
		"pmu-harness-filter 1\n"
		"# scenario a\rfilter 0 0x11 1 deny\vrun 0\f"
		"\xc2\x85" "init 0\xe2\x80\xa8" "filter 0 1 1 deny\n";
	struct ff_file ff;
	char err[256];

	CHECK(parse(text, &ff, err, sizeof(err)) == 0);
	CHECK(ff.nsteps == 0);
	ff_free(&ff);
}

/* A fixed-seed generator, so that a failure names an input that comes back. */
static unsigned long long rng_state = 20261201ULL;

static unsigned int rng(unsigned int below)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned int)(rng_state >> 33) % below;
}

static const char *const fuzz_tokens[] = {
	"\n", " ", "\t", "\r", "#", ",", "-", "0x", "0x10000", "4294967296",
	"99999999999999999999999", "filter ", "init ", "run ", "vcpus ", "no-pmu-vcpu ",
	"measure ", "set-pmu ", "host", "has-attr ", "pmuver ", " no-irq", "workload ", "cycles=", "loops=", "pmccfiltr=", "allow", "deny", "7", "8", "\xff", "\xc2\x85",
};

/*
 * Mutants of a good file: the parser must accept or refuse each one with
 * "line N: ...", never crash, and leave nothing to free after a refusal.
 */
static void test_random_inputs(void)
{
	static const char base[] =
		"pmu-harness-filter 1\nvcpus 2\nno-pmu-vcpu 1\nfilter 0 0x11 1 deny\n"
		"filter 1 8 0xffff allow\ninit 0\nrun 0\nmeasure 0 1\n"
		"has-attr 1\ninit 1 no-irq\n"
		"workload 0x11,0x08 cycles=1 loops=9\n";
	char text[4096];
	int i, rounds;

	for (i = 0; i < 20000; i++) {
		size_t len = sizeof(base) - 1;
		struct ff_file ff;
		char err[256] = "";

		memcpy(text, base, len + 1);
		for (rounds = 1 + rng(4); rounds; rounds--) {
			size_t at = rng(len + 1);
			const char *tok = fuzz_tokens[rng(sizeof(fuzz_tokens) /
							  sizeof(fuzz_tokens[0]))];
			size_t n = strlen(tok);

			if (rng(2) && len + n < sizeof(text)) {
				memmove(text + at + n, text + at, len - at + 1);
				memcpy(text + at, tok, n);
				len += n;
			} else if (at < len) {
				text[at] = (char)(rng(255) + 1);
			}
		}
		if (parse(text, &ff, err, sizeof(err)) == 0)
			ff_free(&ff);
		else if (strncmp(err, "line ", 5)) {
			fprintf(stderr, "mutant %d: message '%s'\n", i, err);
			failures++;
		}
	}
}

/*
 * With file arguments: parse each and print "ok <steps>" or "error <message>",
 * one line per file, so that the Python reader can be compared with this one.
 */
static int parse_files(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		struct ff_file ff;
		char err[256] = "";

		if (ff_parse_path(argv[i], &ff, err, sizeof(err)) == 0) {
			printf("ok %zu\n", ff.nsteps);
			ff_free(&ff);
		} else {
			printf("error %s\n", err);
		}
	}
	return 0;
}

static void test_errno_names(void)
{
	CHECK(!strcmp(ff_errno_name(0), ""));
	CHECK(!strcmp(ff_errno_name(16), "EBUSY"));
	CHECK(!strcmp(ff_errno_name(19), "ENODEV"));
	CHECK(!strcmp(ff_errno_name(9999), "E9999"));
}

int main(int argc, char **argv)
{
	if (argc > 1)
		return parse_files(argc, argv);
	test_full_example();
	test_defaults();
	test_setup_steps();
	test_workload_pmccfiltr();
	test_rejects();
	test_comment_runs_to_newline();
	test_random_inputs();
	test_errno_names();
	if (failures) {
		fprintf(stderr, "%d failure(s)\n", failures);
		return 1;
	}
	printf("filterfile: all tests passed\n");
	return 0;
}
