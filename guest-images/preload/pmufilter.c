/* SPDX-License-Identifier: MIT */
/*
 * libpmufilter.so: give an unmodified VMM (QEMU -accel kvm) a KVM PMU
 * event filter. No VMM has a filter option upstream, so this LD_PRELOAD
 * library wraps ioctl(): on the first KVM_SET_DEVICE_ATTR
 * {KVM_ARM_VCPU_PMU_V3_CTRL, KVM_ARM_VCPU_PMU_V3_INIT} on a vCPU fd, it
 * first issues the filter file's "filter" lines, in order, on that same
 * vCPU fd (the filter is per VM; the file's vcpu field is ignored), logs
 * each errno, then lets the INIT through.
 *
 * Environment:
 *   PMU_HARNESS_FILTER      filter file (docs/filter-file.rst); unset: do nothing
 *   PMU_HARNESS_FILTER_LOG  JSON-lines log of the filter calls (appended); unset: stderr
 *
 * The log holds exactly one record per "filter" line issued, nothing else
 * (the harness counts them as steps):
 *   {"op":"filter","pid","line","vcpu_fd","base","nevents","action","errno","error"}
 * Diagnostics go to stderr, one "libpmufilter: {json}" line each:
 *   load   library active, "filter_file", "nfilters"
 *   init   the intercepted INIT itself: "vcpu_fd", "errno", "error"
 *   fatal  the filter file did not parse: "message" (INIT then fails EINVAL,
 *          so a broken scenario cannot pass for an unfiltered run)
 *   exit   at process exit: "applied" (whether the filters were issued)
 *
 * The real ioctl is reached with syscall(SYS_ioctl) rather than
 * dlsym(RTLD_NEXT): no libdl, and no symbol newer than GLIBC_2.17, so one
 * build runs on bullseye's glibc 2.31 as well as bookworm's 2.36.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "filterfile.h"
#include "jsonw.h"

#define EXPORT __attribute__((visibility("default")))

enum { PENDING, APPLYING, APPLIED };

static struct {
	int active;		/* PMU_HARNESS_FILTER was set */
	int parse_ok;
	struct ff_file ff;
	char parse_err[256];
	const char *path;
	const char *log_path;
	int state;		/* PENDING -> APPLYING -> APPLIED, atomically */
} g;

static long real_ioctl(int fd, unsigned long req, void *arg)
{
	return syscall(SYS_ioctl, fd, req, arg);
}

enum dest { TO_LOG, TO_STDERR };

/*
 * Write one complete JSON line with a single write(), so concurrent
 * writers (QEMU threads, several QEMUs sharing a log) never interleave.
 * TO_LOG goes to PMU_HARNESS_FILTER_LOG when set; everything that lands on
 * stderr gets a "libpmufilter: " prefix so it stands out in QEMU's output.
 */
static void log_record(enum dest dest, void (*fill)(struct jw *, const void *),
		       const void *ctx)
{
	int to_file = dest == TO_LOG && g.log_path;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct jw w;
	int fd = 2;

	if (!f)
		return;
	if (!to_file)
		fputs("libpmufilter: ", f);
	jw_init(&w, f);
	jw_obj_begin(&w, NULL);
	fill(&w, ctx);
	jw_int(&w, "pid", getpid());
	jw_obj_end(&w);
	fputc('\n', f);
	if (fclose(f))
		return;
	if (to_file)
		fd = open(g.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (write(fd, buf, len) < 0) {
			/* Nothing sensible to do: the log is the error channel. */
		}
		if (fd != 2)
			close(fd);
	}
	free(buf);
}

static void fill_load(struct jw *w, const void *ctx)
{
	size_t i, n = 0;

	(void)ctx;
	for (i = 0; i < g.ff.nsteps; i++)
		n += g.ff.steps[i].op == FF_OP_FILTER;
	jw_str(w, "op", "load");
	jw_str(w, "filter_file", g.path);
	jw_uint(w, "nfilters", n);
}

static void fill_fatal(struct jw *w, const void *ctx)
{
	(void)ctx;
	jw_str(w, "op", "fatal");
	jw_str(w, "filter_file", g.path);
	jw_str(w, "message", g.parse_err);
}

struct filter_rec {
	const struct ff_step *step;
	int fd;
	int err;
};

static void fill_filter(struct jw *w, const void *ctx)
{
	const struct filter_rec *r = ctx;

	jw_str(w, "op", "filter");
	jw_uint(w, "line", r->step->line);
	jw_int(w, "vcpu_fd", r->fd);
	jw_uint(w, "base", r->step->base);
	jw_uint(w, "nevents", r->step->nevents);
	jw_uint(w, "action", r->step->action);
	jw_int(w, "errno", r->err);
	jw_str(w, "error", ff_errno_name(r->err));
}

struct init_rec {
	int fd;
	int err;
};

static void fill_init(struct jw *w, const void *ctx)
{
	const struct init_rec *r = ctx;

	jw_str(w, "op", "init");
	jw_int(w, "vcpu_fd", r->fd);
	jw_int(w, "errno", r->err);
	jw_str(w, "error", ff_errno_name(r->err));
}

static void fill_exit(struct jw *w, const void *ctx)
{
	(void)ctx;
	jw_str(w, "op", "exit");
	jw_bool(w, "applied", __atomic_load_n(&g.state, __ATOMIC_ACQUIRE) == APPLIED);
}

__attribute__((constructor))
static void pmufilter_load(void)
{
	g.path = getenv("PMU_HARNESS_FILTER");
	if (!g.path || !*g.path)
		return;
	g.active = 1;
	g.log_path = getenv("PMU_HARNESS_FILTER_LOG");
	if (g.log_path && !*g.log_path)
		g.log_path = NULL;
	g.parse_ok = !ff_parse_path(g.path, &g.ff, g.parse_err, sizeof(g.parse_err));
	if (g.parse_ok) {
		log_record(TO_STDERR, fill_load, NULL);
	} else {
		log_record(TO_STDERR, fill_fatal, NULL);
	}
}

__attribute__((destructor))
static void pmufilter_unload(void)
{
	if (g.active)
		log_record(TO_STDERR, fill_exit, NULL);
}

/* vCPU fds are anon inodes named "kvm-vcpu:<id>". The vGIC device fd
 * takes KVM_SET_DEVICE_ATTR {group 0, attr 1} too (a vGICv2 address), so
 * the group/attr pair alone is not enough. */
static int is_vcpu_fd(int fd)
{
	static const char prefix[] = "anon_inode:kvm-vcpu";
	char path[64], target[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return 0;
	target[n] = '\0';
	return !strncmp(target, prefix, sizeof(prefix) - 1);
}

static int is_pmu_init(int fd, unsigned long req, const void *arg)
{
	const struct kvm_device_attr *a = arg;

	return req == KVM_SET_DEVICE_ATTR && a &&
	       a->group == KVM_ARM_VCPU_PMU_V3_CTRL &&
	       a->attr == KVM_ARM_VCPU_PMU_V3_INIT && is_vcpu_fd(fd);
}

static void issue_filters(int fd)
{
	size_t i;

	for (i = 0; i < g.ff.nsteps; i++) {
		const struct ff_step *s = &g.ff.steps[i];
		struct kvm_pmu_event_filter f = {
			.base_event = s->base,
			.nevents = s->nevents,
			.action = s->action,
		};
		struct kvm_device_attr a = {
			.group = KVM_ARM_VCPU_PMU_V3_CTRL,
			.attr = KVM_ARM_VCPU_PMU_V3_FILTER,
			.addr = (uint64_t)(uintptr_t)&f,
		};
		struct filter_rec r = { .step = s, .fd = fd };

		if (s->op != FF_OP_FILTER)
			continue;
		r.err = real_ioctl(fd, KVM_SET_DEVICE_ATTR, &a) < 0 ? errno : 0;
		log_record(TO_LOG, fill_filter, &r);
	}
}

/*
 * First PMU INIT in the process: issue the filters. Returns 1 when this
 * call is that first INIT (its result gets logged). Concurrent INITs on
 * other vCPU threads wait until the filters are in, so none slips past.
 */
static int before_first_init(int fd)
{
	int expect = PENDING;

	if (__atomic_compare_exchange_n(&g.state, &expect, APPLYING, 0,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		if (g.parse_ok)
			issue_filters(fd);
		__atomic_store_n(&g.state, APPLIED, __ATOMIC_RELEASE);
		return 1;
	}
	while (__atomic_load_n(&g.state, __ATOMIC_ACQUIRE) != APPLIED)
		sched_yield();
	return 0;
}

EXPORT int ioctl(int fd, unsigned long req, ...)
{
	struct init_rec rec = { .fd = fd };
	va_list ap;
	void *arg;
	int first;
	long ret;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);

	if (!g.active || !is_pmu_init(fd, req, arg))
		return real_ioctl(fd, req, arg);

	first = before_first_init(fd);
	if (!g.parse_ok) {
		/* Refuse to run a scenario whose filters could not be read. */
		errno = EINVAL;
		ret = -1;
	} else {
		ret = real_ioctl(fd, req, arg);
	}
	if (first) {
		rec.err = ret < 0 ? errno : 0;
		log_record(TO_STDERR, fill_init, &rec);
		errno = rec.err;	/* logging may have clobbered it */
	}
	return ret;
}
