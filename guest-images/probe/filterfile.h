/* SPDX-License-Identifier: MIT */
/*
 * Parser for the pmu-harness filter file (docs/filter-file.rst), shared
 * by pmu-probe and libpmufilter.so. Also the errno-name helper both use
 * (glibc's strerrorname_np is too new for bullseye's 2.31).
 */
#ifndef PMU_FILTERFILE_H
#define PMU_FILTERFILE_H

#include <stddef.h>
#include <stdio.h>

#define FF_FORMAT_VERSION	1
#define FF_MAX_VCPUS		8
#define FF_MAX_EVENTS		31	/* architectural maximum of event counters */
#define FF_MAX_STEPS		1024

/* Defaults when the file has no "workload" line / omits an option. */
#define FF_DEFAULT_LOOPS	200000UL

enum ff_op {
	FF_OP_FILTER,
	FF_OP_INIT,
	FF_OP_RUN,
	FF_OP_SET_PMU,
	FF_OP_HAS_ATTR,		/* KVM_HAS_DEVICE_ATTR of FILTER on a vCPU */
	FF_OP_PMUVER,		/* write ID_AA64DFR0_EL1.PMUVer on every vCPU */
};

/* FF_OP_SET_PMU: which PMU to ask for */
enum ff_pmu {
	FF_PMU_HOST,		/* the Arm PMU L1's perf knows (its sysfs "type") */
	FF_PMU_OTHER,		/* a perf PMU type that is no Arm PMU: PERF_TYPE_SOFTWARE */
};

struct ff_step {
	enum ff_op op;
	unsigned int line;	/* 1-based line number in the file */
	unsigned int vcpu;
	/* FF_OP_FILTER only; range-checked to the kernel struct's widths */
	unsigned int base;
	unsigned int nevents;
	unsigned int action;
	/* FF_OP_SET_PMU only */
	enum ff_pmu pmu;
	/* FF_OP_INIT only: 0 skips the PMU IRQ ("init V no-irq") */
	int irq;
	/* FF_OP_PMUVER only: the value of ID_AA64DFR0_EL1.PMUVer (0..15) */
	unsigned int pmuver;
};

/* The bits of PMCCFILTR_EL0 a workload may write: its event field only */
#define FF_PMCCFILTR_EVENT_FIELD	0xffffUL

struct ff_workload {
	unsigned int nevents;
	unsigned int events[FF_MAX_EVENTS];
	int cycles;
	unsigned long loops;
	unsigned long pmccfiltr;	/* written to PMCCFILTR_EL0 before counting */
};

struct ff_file {
	unsigned int vcpus;
	unsigned int no_pmu_mask;	/* bit n: vCPU n has no PMUv3 */
	struct ff_step *steps;
	size_t nsteps;
	struct ff_workload workload;
	int has_workload;		/* 0: defaults were filled in */
	/* "measure": the vCPUs the payload measures on, in order; default vCPU 0 */
	unsigned int measure[FF_MAX_VCPUS];
	unsigned int nmeasure;
};

/*
 * Parse a whole filter file. Returns 0, or -1 with a message of the form
 * "line N: ..." (or "<path>: ...") in err. On success release with
 * ff_free(). On failure nothing needs freeing.
 */
int ff_parse_stream(FILE *f, struct ff_file *out, char *err, size_t errlen);
int ff_parse_path(const char *path, struct ff_file *out, char *err, size_t errlen);
void ff_free(struct ff_file *ff);

const char *ff_op_name(enum ff_op op);

/* "EINVAL", "EBUSY", ...; "" for 0; "E<n>" for anything unlisted. */
const char *ff_errno_name(int err);

#endif
