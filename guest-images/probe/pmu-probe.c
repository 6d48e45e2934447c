/* SPDX-License-Identifier: MIT */
/*
 * pmu-probe: a minimal KVM/arm64 VMM that tells what a guest sees of the
 * PMU under a KVM_ARM_VCPU_PMU_V3_FILTER configuration.
 *
 * It replays a filter file (docs/filter-file.rst) against a fresh VM,
 * records the errno of every call, then runs a small EL1 payload on
 * each measured vCPU (vCPU 0 unless the file says "measure") that reads
 * PMCEID0/1 and PMCR and counts the requested events.
 * Output: one JSON object on stdout (format "pmu-harness-probe/1").
 * Exit 0 when a result was produced (whatever the calls returned), 2 on a
 * setup failure ("fatal" is then set).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "filterfile.h"
#include "jsonw.h"
#include "payload.h"

#ifndef PROBE_VERSION
#define PROBE_VERSION "dev"
#endif
#define PROBE_FORMAT		"pmu-harness-probe/1"
#define PMU_IRQ			23	/* PPI 7, what QEMU's virt board uses */
#define DEFAULT_TIMEOUT_S	120
#ifndef KVM_ARM_VCPU_PMU_V3_SET_PMU
#define KVM_ARM_VCPU_PMU_V3_SET_PMU	3	/* 5.18+; older headers lack it */
#endif
/* ID_AA64DFR0_EL1 (op0=3, op1=0, CRn=0, CRm=5, op2=0) and its PMUVer field, bits [11:8] */
#define ID_AA64DFR0_REG		ARM64_SYS_REG(3, 0, 0, 5, 0)
#define PMUVER_SHIFT		8
#define PMUVER_MASK		(0xfULL << PMUVER_SHIFT)
#define PERF_TYPE_SOFTWARE_ID	1	/* a perf PMU type that is never an Arm PMU */
#define EVENT_SOURCES		"/sys/bus/event_source/devices"
#define SW_INCR_ALIAS_BITS	0x3ff	/* the event field of an ARMv8.0 PMU */

extern const unsigned char pmu_payload_start[];
extern const unsigned char pmu_payload_end[];

struct vcpu {
	int fd;
	struct kvm_run *run;
	int has_pmu;		/* created with KVM_ARM_VCPU_PMU_V3 */
	int init_err;		/* KVM_ARM_VCPU_INIT result */
	int pmu_init_issued;	/* an init step (explicit or implicit) ran */
	int pmu_ready;		/* PMU INIT returned 0 */
	int pmu_err;		/* errno of the failed init stage */
	const char *pmu_stage;	/* stage that failed */
};

struct vm {
	int kvm_fd;
	int vm_fd;
	int gic_fd;
	void *mem;
	size_t run_size;
	unsigned int nvcpus;
	struct vcpu vcpu[FF_MAX_VCPUS];
	int vgic_ready;
	int cap_pmu;		/* KVM_CAP_ARM_PMU_V3 */
	int has_filter_attr;	/* KVM_HAS_DEVICE_ATTR FILTER on vCPU 0 */
};

struct step_result {
	const char *op;		/* filter | init | run | vgic-init */
	unsigned int vcpu;
	unsigned int line;	/* 0 for implicit steps */
	const struct ff_step *step;
	int err;
	const char *stage;	/* init: irq | vgic | pmu; set-pmu: lookup | pmu;
				 * pmuver: get | set */
	int pmu_id;		/* set-pmu: the perf PMU type asked for (-1: none found) */
	int pmuver_before;	/* pmuver: PMUVer vCPU 0 had before (-1: not read) */
};

/* Values the payload stored to the report window during one command. */
struct report {
	uint64_t val[K_NKEYS];
	uint64_t seen;		/* bit n: key n arrived */
};

struct measurement {
	unsigned int vcpu;
	int skipped;
	int err;
	char reason[160];
	struct report rep;
	uint64_t swinc_mask;
	double run_ms;
};

struct probe {
	const char *path;
	struct ff_file ff;
	int parsed;
	struct vm vm;
	struct step_result *res;
	size_t nres;
	unsigned int nmeasured;	/* entries of m[] that are meaningful */
	int fds_at_start;	/* count_open_fds() before anything was opened */
	int fds_at_end;		/* count_open_fds() after teardown */
	struct measurement m[FF_MAX_VCPUS];	/* in the file's "measure" order */
	char fatal[512];
	unsigned int timeout_s;
	struct timespec t0;
};

static volatile sig_atomic_t timed_out;

static void on_alarm(int sig)
{
	(void)sig;
	timed_out = 1;
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1e3 + (t.tv_nsec - t0->tv_nsec) / 1e6;
}

static int set_fatal(struct probe *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int set_fatal(struct probe *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->fatal, sizeof(p->fatal), fmt, ap);
	va_end(ap);
	return -1;
}

/* ioctl returning 0 or the errno, so results can be recorded as-is. */
static int xioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) < 0 ? errno : 0;
}

static int device_attr(int fd, uint32_t group, uint64_t attr, void *addr)
{
	struct kvm_device_attr a = {
		.group = group,
		.attr = attr,
		.addr = (uint64_t)(uintptr_t)addr,
	};

	return xioctl(fd, KVM_SET_DEVICE_ATTR, &a);
}

#define CORE_REG(field) (KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | \
			 (offsetof(struct kvm_regs, field) / sizeof(uint32_t)))

static int set_reg(int fd, uint64_t id, uint64_t val)
{
	struct kvm_one_reg r = { .id = id, .addr = (uint64_t)(uintptr_t)&val };

	return xioctl(fd, KVM_SET_ONE_REG, &r);
}

static uint64_t get_reg(int fd, uint64_t id)
{
	uint64_t val = 0;
	struct kvm_one_reg r = { .id = id, .addr = (uint64_t)(uintptr_t)&val };

	if (xioctl(fd, KVM_GET_ONE_REG, &r))
		return ~0ULL;
	return val;
}

static uint64_t *param_block(struct vm *vm, unsigned int v)
{
	return (uint64_t *)((char *)vm->mem + PARAM_IPA + v * PARAM_STRIDE);
}

/* ---- VM construction -------------------------------------------------- */

static int setup_memory(struct probe *p)
{
	struct vm *vm = &p->vm;
	size_t len = pmu_payload_end - pmu_payload_start;
	struct kvm_userspace_memory_region region = {
		.slot = 0,
		.guest_phys_addr = GUEST_RAM_IPA,
		.memory_size = GUEST_RAM_SIZE,
	};
	int err;

	if (PAYLOAD_IPA + len > PARAM_IPA)
		return set_fatal(p, "payload too large (%zu bytes)", len);
	vm->mem = mmap(NULL, GUEST_RAM_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->mem == MAP_FAILED) {
		vm->mem = NULL;
		return set_fatal(p, "mmap guest RAM: %s", ff_errno_name(errno));
	}
	region.userspace_addr = (uint64_t)(uintptr_t)vm->mem;
	err = xioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region);
	if (err)
		return set_fatal(p, "KVM_SET_USER_MEMORY_REGION: %s", ff_errno_name(err));
	memcpy((char *)vm->mem + PAYLOAD_IPA, pmu_payload_start, len);
	return 0;
}

/*
 * Create vCPU v and initialise it. A KVM_ARM_VCPU_INIT failure is a
 * result, not a setup failure (e.g. kernels that refuse vCPUs with mixed
 * features), so it is recorded and the probe goes on.
 */
static int create_vcpu(struct probe *p, unsigned int v, const struct kvm_vcpu_init *target)
{
	struct vm *vm = &p->vm;
	struct vcpu *c = &vm->vcpu[v];
	struct kvm_vcpu_init init = *target;
	int err;

	c->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)v);
	if (c->fd < 0)
		return set_fatal(p, "KVM_CREATE_VCPU %u: %s", v, ff_errno_name(errno));
	c->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
	if (c->run == MAP_FAILED) {
		c->run = NULL;
		return set_fatal(p, "mmap kvm_run of vCPU %u: %s", v, ff_errno_name(errno));
	}
	c->has_pmu = !(p->ff.no_pmu_mask & (1u << v));
	memset(init.features, 0, sizeof(init.features));
	if (c->has_pmu)
		init.features[KVM_ARM_VCPU_PMU_V3 / 32] |= 1u << (KVM_ARM_VCPU_PMU_V3 % 32);
	c->init_err = xioctl(c->fd, KVM_ARM_VCPU_INIT, &init);
	if (c->init_err)
		return 0;

	/* Entry point and parameter block, set once for the vCPU's life. */
	err = set_reg(c->fd, CORE_REG(regs.pc), PAYLOAD_IPA);
	if (!err)
		err = set_reg(c->fd, CORE_REG(regs.regs[0]), PARAM_IPA + v * PARAM_STRIDE);
	if (err)
		return set_fatal(p, "KVM_SET_ONE_REG on vCPU %u: %s", v, ff_errno_name(err));
	return 0;
}

static int create_vgic(struct probe *p)
{
	struct vm *vm = &p->vm;
	struct kvm_create_device dev = { .type = KVM_DEV_TYPE_ARM_VGIC_V3 };
	uint64_t dist = VGIC_DIST_IPA, redist = VGIC_REDIST_IPA;
	int err;

	err = xioctl(vm->vm_fd, KVM_CREATE_DEVICE, &dev);
	if (err)
		return set_fatal(p, "KVM_CREATE_DEVICE vGICv3: %s", ff_errno_name(err));
	vm->gic_fd = dev.fd;
	err = device_attr(vm->gic_fd, KVM_DEV_ARM_VGIC_GRP_ADDR,
			  KVM_VGIC_V3_ADDR_TYPE_DIST, &dist);
	if (!err)
		err = device_attr(vm->gic_fd, KVM_DEV_ARM_VGIC_GRP_ADDR,
				  KVM_VGIC_V3_ADDR_TYPE_REDIST, &redist);
	if (err)
		return set_fatal(p, "vGICv3 addresses: %s", ff_errno_name(err));
	return 0;
}

/* KVM_HAS_DEVICE_ATTR of the FILTER attribute on one vCPU: 0 or the errno. */
static int has_filter_attr(int vcpu_fd)
{
	struct kvm_device_attr a = {
		.group = KVM_ARM_VCPU_PMU_V3_CTRL,
		.attr = KVM_ARM_VCPU_PMU_V3_FILTER,
	};

	return xioctl(vcpu_fd, KVM_HAS_DEVICE_ATTR, &a);
}

/* Informational only: the probe issues the calls whatever these say. */
static void probe_caps(struct vm *vm)
{
	vm->cap_pmu = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_PMU_V3) > 0;
	vm->has_filter_attr = !vm->vcpu[0].init_err && has_filter_attr(vm->vcpu[0].fd) == 0;
}

static int create_vm(struct probe *p)
{
	struct vm *vm = &p->vm;
	struct kvm_vcpu_init target;
	unsigned int v;
	int ret, err;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0)
		return set_fatal(p, "open /dev/kvm: %s", ff_errno_name(errno));
	ret = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (ret <= 0)
		return set_fatal(p, "KVM_GET_VCPU_MMAP_SIZE: %s", ff_errno_name(errno));
	vm->run_size = ret;
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0UL);
	if (vm->vm_fd < 0)
		return set_fatal(p, "KVM_CREATE_VM: %s", ff_errno_name(errno));
	if (setup_memory(p))
		return -1;
	err = xioctl(vm->vm_fd, KVM_ARM_PREFERRED_TARGET, &target);
	if (err)
		return set_fatal(p, "KVM_ARM_PREFERRED_TARGET: %s", ff_errno_name(err));
	/* All vCPUs before the vGIC, as QEMU does: the vGIC sizes itself
	 * by the vCPUs that exist when it is initialised. */
	for (v = 0; v < p->ff.vcpus; v++) {
		vm->nvcpus = v + 1;
		if (create_vcpu(p, v, &target))
			return -1;
	}
	if (create_vgic(p))
		return -1;
	probe_caps(vm);
	return 0;
}

/* Close every fd: a leaked vCPU keeps its pinned perf events in L1. */
static void destroy_vm(struct vm *vm)
{
	unsigned int v;

	for (v = 0; v < vm->nvcpus; v++) {
		if (vm->vcpu[v].run)
			munmap(vm->vcpu[v].run, vm->run_size);
		if (vm->vcpu[v].fd >= 0)
			close(vm->vcpu[v].fd);
	}
	if (vm->gic_fd >= 0)
		close(vm->gic_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->mem)
		munmap(vm->mem, GUEST_RAM_SIZE);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
}

/*
 * fds above stderr that are open. Compared before and after the VM's life
 * it proves that no vCPU (and its pinned perf events) outlives the VM.
 * -1 without /proc.
 */
static int count_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);

		if (e->d_name[0] != '.' && fd > 2 && fd != dirfd(d))
			n++;
	}
	closedir(d);
	return n;
}

/* ---- Running the payload ---------------------------------------------- */

static const char *exit_reason_name(uint32_t r)
{
	switch (r) {
	case KVM_EXIT_UNKNOWN: return "UNKNOWN";
	case KVM_EXIT_EXCEPTION: return "EXCEPTION";
	case KVM_EXIT_HYPERCALL: return "HYPERCALL";
	case KVM_EXIT_DEBUG: return "DEBUG";
	case KVM_EXIT_MMIO: return "MMIO";
	case KVM_EXIT_SHUTDOWN: return "SHUTDOWN";
	case KVM_EXIT_FAIL_ENTRY: return "FAIL_ENTRY";
	case KVM_EXIT_INTR: return "INTR";
	case KVM_EXIT_INTERNAL_ERROR: return "INTERNAL_ERROR";
	case KVM_EXIT_SYSTEM_EVENT: return "SYSTEM_EVENT";
	case KVM_EXIT_ARM_NISV: return "ARM_NISV";
	}
	return "?";
}

/*
 * One MMIO exit. Returns 1 when the command is finished, 0 to keep
 * running, -1 on a protocol violation (fatal set).
 */
static int handle_mmio(struct probe *p, unsigned int v, struct report *rep)
{
	struct kvm_run *run = p->vm.vcpu[v].run;
	uint64_t addr = run->mmio.phys_addr;
	uint64_t key = (addr - REPORT_IPA) / 8;
	uint64_t val = 0;

	if (addr < REPORT_IPA || key >= K_NKEYS || addr % 8 || !run->mmio.is_write ||
	    run->mmio.len != 8)
		return set_fatal(p, "vCPU %u: unexpected MMIO %s of %u bytes at 0x%llx",
				 v, run->mmio.is_write ? "write" : "read", run->mmio.len,
				 (unsigned long long)addr);
	memcpy(&val, run->mmio.data, sizeof(val));	/* guest and host are LE */
	rep->val[key] = val;
	rep->seen |= 1ULL << key;
	if (key == K_EXC_VEC)
		return set_fatal(p, "vCPU %u: guest exception, vector 0x%llx ESR_EL1=0x%llx "
				 "ELR_EL1=0x%llx FAR_EL1=0x%llx", v,
				 (unsigned long long)val * 0x80,
				 (unsigned long long)rep->val[K_EXC_ESR],
				 (unsigned long long)rep->val[K_EXC_ELR],
				 (unsigned long long)rep->val[K_EXC_FAR]);
	return key == K_DONE;
}

static int unexpected_exit(struct probe *p, unsigned int v)
{
	struct kvm_run *run = p->vm.vcpu[v].run;
	uint64_t pc = get_reg(p->vm.vcpu[v].fd, CORE_REG(regs.pc));

	switch (run->exit_reason) {
	case KVM_EXIT_FAIL_ENTRY:
		return set_fatal(p, "vCPU %u: exit FAIL_ENTRY reason 0x%llx", v,
				 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
	case KVM_EXIT_SYSTEM_EVENT:
		return set_fatal(p, "vCPU %u: exit SYSTEM_EVENT type %u at PC 0x%llx", v,
				 run->system_event.type, (unsigned long long)pc);
	case KVM_EXIT_INTERNAL_ERROR:
		return set_fatal(p, "vCPU %u: exit INTERNAL_ERROR suberror %u", v,
				 run->internal.suberror);
	}
	return set_fatal(p, "vCPU %u: unexpected exit reason %u (%s) at PC 0x%llx", v,
			 run->exit_reason, exit_reason_name(run->exit_reason),
			 (unsigned long long)pc);
}

/*
 * Run command cmd on vCPU v until the payload stores K_DONE. Returns 0,
 * a positive errno when KVM_RUN itself failed (a result to record), or
 * -1 with fatal set.
 */
static int run_command(struct probe *p, unsigned int v, uint64_t cmd, struct report *rep)
{
	struct vcpu *c = &p->vm.vcpu[v];
	int ret = 0;

	memset(rep, 0, sizeof(*rep));
	param_block(&p->vm, v)[P_CMD / 8] = cmd;
	timed_out = 0;
	alarm(p->timeout_s);
	while (ret == 0) {
		if (ioctl(c->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR && !timed_out)
				continue;
			ret = errno;
			break;
		}
		if (c->run->exit_reason == KVM_EXIT_MMIO)
			ret = handle_mmio(p, v, rep);
		else if (c->run->exit_reason != KVM_EXIT_INTR)
			ret = unexpected_exit(p, v);
		if (ret == 1) {
			ret = 0;
			break;
		}
	}
	alarm(0);
	if (ret == EINTR && timed_out)
		return set_fatal(p, "vCPU %u: no result within %u s (PC 0x%llx)", v,
				 p->timeout_s,
				 (unsigned long long)get_reg(c->fd, CORE_REG(regs.pc)));
	return ret;
}

/* ---- Steps -------------------------------------------------------------- */

static struct step_result *new_result(struct probe *p, const char *op, unsigned int vcpu,
				      const struct ff_step *step)
{
	struct step_result *r = &p->res[p->nres++];

	memset(r, 0, sizeof(*r));
	r->op = op;
	r->vcpu = vcpu;
	r->step = step;
	r->line = step ? step->line : 0;
	return r;
}

static void do_filter(struct probe *p, const struct ff_step *s)
{
	struct step_result *r = new_result(p, "filter", s->vcpu, s);
	struct kvm_pmu_event_filter f = {
		.base_event = s->base,
		.nevents = s->nevents,
		.action = s->action,
	};

	r->err = device_attr(p->vm.vcpu[s->vcpu].fd, KVM_ARM_VCPU_PMU_V3_CTRL,
			     KVM_ARM_VCPU_PMU_V3_FILTER, &f);
}

/*
 * The perf type of L1's Arm PMU (the armv8_* event source), which is what
 * SET_PMU takes; -1 when there is none.
 */
static int host_pmu_type(void)
{
	DIR *d = opendir(EVENT_SOURCES);
	struct dirent *e;
	int type = -1;

	if (!d)
		return -1;
	while (type < 0 && (e = readdir(d))) {
		char path[512];
		FILE *f;

		if (strncmp(e->d_name, "armv8", 5))
			continue;
		snprintf(path, sizeof(path), "%s/%s/type", EVENT_SOURCES, e->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fscanf(f, "%d", &type) != 1)
			type = -1;
		fclose(f);
	}
	closedir(d);
	return type;
}

static void do_set_pmu(struct probe *p, const struct ff_step *s)
{
	struct step_result *r = new_result(p, "set-pmu", s->vcpu, s);
	int id = s->pmu == FF_PMU_HOST ? host_pmu_type() : PERF_TYPE_SOFTWARE_ID;

	r->pmu_id = id;
	if (id < 0) {
		r->stage = "lookup";
		r->err = ENOENT;
		return;
	}
	r->stage = "pmu";
	r->err = device_attr(p->vm.vcpu[s->vcpu].fd, KVM_ARM_VCPU_PMU_V3_CTRL,
			     KVM_ARM_VCPU_PMU_V3_SET_PMU, &id);
}

/* vGIC CTRL_INIT, retried until it has succeeded once. */
static int vgic_init(struct vm *vm)
{
	int err;

	if (vm->vgic_ready)
		return 0;
	err = device_attr(vm->gic_fd, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL);
	vm->vgic_ready = !err;
	return err;
}

/*
 * PMU IRQ, vGIC init, PMU INIT: stops at the first failing stage. An init
 * step without the IRQ ("init V no-irq") starts at the vGIC, so that what
 * INIT itself answers is seen, not the IRQ's own refusal.
 */
static void do_init(struct probe *p, unsigned int v, const struct ff_step *s)
{
	struct step_result *r = new_result(p, "init", v, s);
	struct vcpu *c = &p->vm.vcpu[v];
	int irq = PMU_IRQ;

	c->pmu_init_issued = 1;
	if (!s || s->irq) {
		r->stage = "irq";
		r->err = device_attr(c->fd, KVM_ARM_VCPU_PMU_V3_CTRL,
				     KVM_ARM_VCPU_PMU_V3_IRQ, &irq);
	}
	if (!r->err) {
		r->stage = "vgic";
		r->err = vgic_init(&p->vm);
	}
	if (!r->err) {
		r->stage = "pmu";
		r->err = device_attr(c->fd, KVM_ARM_VCPU_PMU_V3_CTRL,
				     KVM_ARM_VCPU_PMU_V3_INIT, NULL);
	}
	c->pmu_ready = !r->err;
	c->pmu_err = r->err;
	c->pmu_stage = r->stage;
}

static void do_has_attr(struct probe *p, const struct ff_step *s)
{
	struct step_result *r = new_result(p, "has-attr", s->vcpu, s);

	r->err = has_filter_attr(p->vm.vcpu[s->vcpu].fd);
}

/*
 * The VMM lowers (or sets) the guest's PMU version: ID_AA64DFR0_EL1 read,
 * PMUVer replaced, written back, on every vCPU in order (QEMU writes ID
 * registers per vCPU too). Stops at the first refusal, recorded with the
 * vCPU and the stage (get | set) that failed. vCPUs whose
 * KVM_ARM_VCPU_INIT failed are skipped: KVM refuses their registers.
 */
static void do_pmuver(struct probe *p, const struct ff_step *s)
{
	struct step_result *r = new_result(p, "pmuver", 0, s);
	unsigned int v;

	r->pmuver_before = -1;
	for (v = 0; v < p->vm.nvcpus && !r->err; v++) {
		struct vcpu *c = &p->vm.vcpu[v];
		uint64_t val = 0;
		struct kvm_one_reg reg = {
			.id = ID_AA64DFR0_REG,
			.addr = (uint64_t)(uintptr_t)&val,
		};

		if (c->init_err)
			continue;
		r->vcpu = v;
		r->stage = "get";
		r->err = xioctl(c->fd, KVM_GET_ONE_REG, &reg);
		if (r->err)
			break;
		if (r->pmuver_before < 0)
			r->pmuver_before = (val & PMUVER_MASK) >> PMUVER_SHIFT;
		val = (val & ~PMUVER_MASK) | ((uint64_t)s->pmuver << PMUVER_SHIFT);
		r->stage = "set";
		r->err = xioctl(c->fd, KVM_SET_ONE_REG, &reg);
	}
}

static int do_run(struct probe *p, const struct ff_step *s)
{
	struct step_result *r = new_result(p, "run", s->vcpu, s);
	struct report rep;
	int ret = run_command(p, s->vcpu, CMD_NOOP, &rep);

	if (ret < 0)
		return -1;
	r->err = ret;
	return 0;
}

static int run_steps(struct probe *p)
{
	size_t i;

	for (i = 0; i < p->ff.nsteps; i++) {
		const struct ff_step *s = &p->ff.steps[i];

		switch (s->op) {
		case FF_OP_FILTER:
			do_filter(p, s);
			break;
		case FF_OP_INIT:
			do_init(p, s->vcpu, s);
			break;
		case FF_OP_RUN:
			if (do_run(p, s))
				return -1;
			break;
		case FF_OP_SET_PMU:
			do_set_pmu(p, s);
			break;
		case FF_OP_HAS_ATTR:
			do_has_attr(p, s);
			break;
		case FF_OP_PMUVER:
			do_pmuver(p, s);
			break;
		}
	}
	return 0;
}

/*
 * Bring every remaining PMU vCPU up as a VMM would before starting the
 * guest. vCPUs without a PMU (or whose KVM_ARM_VCPU_INIT failed) have
 * nothing to initialise, but the vGIC must be ready before anything runs.
 */
static void implicit_init(struct probe *p)
{
	struct vm *vm = &p->vm;
	unsigned int v;

	for (v = 0; v < vm->nvcpus; v++) {
		struct vcpu *c = &vm->vcpu[v];

		if (c->has_pmu && !c->init_err && !c->pmu_init_issued)
			do_init(p, v, NULL);
	}
	if (!vm->vgic_ready) {
		struct step_result *r = new_result(p, "vgic-init", 0, NULL);

		r->stage = "vgic";
		r->err = vgic_init(vm);
	}
}

static void skip_measurement(struct measurement *m, int err, const char *reason)
{
	m->skipped = 1;
	m->err = err;
	snprintf(m->reason, sizeof(m->reason), "%s", reason);
}

/*
 * Whether a counter of this event needs PMSWINC writes: SW_INCR (0), and
 * any number whose low 10 bits are 0 (0x400, ...), which a kernel that
 * masks event numbers to an ARMv8.0 PMU's width counts as SW_INCR. On a
 * counter that is no SW_INCR the write is ignored.
 */
static int is_sw_incr_alias(unsigned int event)
{
	return (event & SW_INCR_ALIAS_BITS) == 0;
}

/* One run of the measuring payload on vCPU v, into m. -1: fatal (already set). */
static int measure_on(struct probe *p, unsigned int v, struct measurement *m)
{
	struct vcpu *c = &p->vm.vcpu[v];
	const struct ff_workload *w = &p->ff.workload;
	uint64_t *blk = param_block(&p->vm, v);
	struct timespec t0;
	char why[128];
	unsigned int i;
	int ret;

	m->vcpu = v;
	if (c->init_err) {
		snprintf(why, sizeof(why), "KVM_ARM_VCPU_INIT of vCPU %u failed", v);
		skip_measurement(m, c->init_err, why);
		return 0;
	}
	if (!c->has_pmu) {
		snprintf(why, sizeof(why), "vCPU %u has no PMUv3 (no-pmu-vcpu %u)", v, v);
		skip_measurement(m, ENODEV, why);
		return 0;
	}
	if (!c->pmu_ready) {
		snprintf(why, sizeof(why), "PMU init of vCPU %u failed at stage %s", v,
			 c->pmu_stage);
		skip_measurement(m, c->pmu_err, why);
		return 0;
	}

	blk[P_NEVENTS / 8] = w->nevents;
	blk[P_CYCLES / 8] = w->cycles;
	blk[P_LOOPS / 8] = w->loops;
	blk[P_PMCCFILTR / 8] = w->pmccfiltr;
	m->swinc_mask = 0;
	for (i = 0; i < w->nevents; i++) {
		blk[P_EVENTS / 8 + i] = w->events[i];
		if (is_sw_incr_alias(w->events[i]))
			m->swinc_mask |= 1ULL << i;
	}
	blk[P_SWINC / 8] = m->swinc_mask;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = run_command(p, v, CMD_MEASURE, &m->rep);
	m->run_ms = ms_since(&t0);
	if (ret < 0)
		return -1;
	m->err = ret;
	return 0;
}

/* The filter is per VM but the PMU per vCPU: each listed vCPU reads its own view. */
static int measure(struct probe *p)
{
	unsigned int i;

	for (i = 0; i < p->ff.nmeasure; i++) {
		p->nmeasured = i + 1;
		if (measure_on(p, p->ff.measure[i], &p->m[i]))
			return -1;
	}
	return 0;
}

/* ---- Output ------------------------------------------------------------- */

static void emit_steps(struct jw *w, const struct probe *p)
{
	size_t i;

	jw_arr_begin(w, "steps");
	for (i = 0; i < p->nres; i++) {
		const struct step_result *r = &p->res[i];

		jw_obj_begin(w, NULL);
		jw_str(w, "op", r->op);
		jw_uint(w, "vcpu", r->vcpu);
		if (r->step && r->step->op == FF_OP_FILTER) {
			jw_uint(w, "base", r->step->base);
			jw_uint(w, "nevents", r->step->nevents);
			jw_uint(w, "action", r->step->action);
		}
		if (r->step && r->step->op == FF_OP_SET_PMU) {
			jw_str(w, "pmu", r->step->pmu == FF_PMU_HOST ? "host" : "other");
			jw_int(w, "pmu_id", r->pmu_id);
		}
		if (r->step && r->step->op == FF_OP_INIT)
			jw_bool(w, "irq", r->step->irq);
		if (r->step && r->step->op == FF_OP_PMUVER) {
			jw_uint(w, "pmuver", r->step->pmuver);
			jw_int(w, "pmuver_before", r->pmuver_before);
		}
		jw_int(w, "errno", r->err);
		jw_str(w, "error", ff_errno_name(r->err));
		if (r->stage)
			jw_str(w, "stage", r->stage);
		jw_bool(w, "implicit", !r->step);
		if (r->line)
			jw_uint(w, "line", r->line);
		jw_obj_end(w);
	}
	jw_arr_end(w);
}

static void emit_vcpus(struct jw *w, const struct probe *p)
{
	unsigned int v;

	jw_arr_begin(w, "vcpu_init");
	for (v = 0; v < p->vm.nvcpus; v++) {
		const struct vcpu *c = &p->vm.vcpu[v];

		jw_obj_begin(w, NULL);
		jw_uint(w, "vcpu", v);
		jw_bool(w, "pmu", c->has_pmu);
		jw_int(w, "errno", c->init_err);
		jw_str(w, "error", ff_errno_name(c->init_err));
		jw_obj_end(w);
	}
	jw_arr_end(w);
}

/* A reported value, or null when the payload did not send it. */
static void emit_key(struct jw *w, const char *name, const struct report *rep, int key)
{
	if (rep->seen & (1ULL << key))
		jw_uint(w, name, rep->val[key]);
	else
		jw_null(w, name);
}

static void emit_counters(struct jw *w, const struct probe *p, const struct measurement *m)
{
	const struct ff_workload *wl = &p->ff.workload;
	const struct report *rep = &m->rep;
	uint64_t nprog = (rep->seen & (1ULL << K_NPROG)) ? rep->val[K_NPROG] : 0;
	unsigned int i;

	jw_arr_begin(w, "counters");
	for (i = 0; i < wl->nevents; i++) {
		jw_obj_begin(w, NULL);
		jw_uint(w, "index", i);
		jw_uint(w, "event", wl->events[i]);
		emit_key(w, "value", rep, K_CNT0 + i);
		/* Only when the guest has fewer counters than requested. */
		if ((rep->seen & (1ULL << K_NPROG)) && i >= nprog)
			jw_str(w, "error", "no such counter (index >= PMCR_EL0.N)");
		jw_obj_end(w);
	}
	jw_arr_end(w);
}

static void emit_one(struct jw *w, const char *key, const struct probe *p,
		     const struct measurement *m)
{
	const struct report *rep = &m->rep;
	int have_pmcr = !!(rep->seen & (1ULL << K_PMCR));
	int have_dfr0 = !!(rep->seen & (1ULL << K_DFR0));

	jw_obj_begin(w, key);
	jw_uint(w, "vcpu", m->vcpu);
	jw_int(w, "errno", m->err);
	jw_str(w, "error", ff_errno_name(m->err));
	jw_bool(w, "skipped", m->skipped);
	if (m->skipped)
		jw_str(w, "reason", m->reason);
	emit_key(w, "pmceid0", rep, K_PMCEID0);
	emit_key(w, "pmceid1", rep, K_PMCEID1);
	emit_key(w, "pmcr", rep, K_PMCR);
	if (have_pmcr)
		jw_uint(w, "pmcr_n", (rep->val[K_PMCR] >> 11) & 0x1f);
	else
		jw_null(w, "pmcr_n");
	emit_key(w, "id_aa64dfr0", rep, K_DFR0);
	if (have_dfr0)
		jw_uint(w, "pmuver", (rep->val[K_DFR0] >> 8) & 0xf);
	else
		jw_null(w, "pmuver");
	emit_counters(w, p, m);
	emit_key(w, "cycle_counter", rep, K_CCNT);
	jw_uint(w, "pmccfiltr_written", p->ff.workload.pmccfiltr);
	emit_key(w, "pmccfiltr_read", rep, K_PMCCFILTR);
	jw_bool(w, "cycles_enabled", p->ff.workload.cycles);
	jw_uint(w, "loops", p->ff.workload.loops);
	jw_uint(w, "swinc_mask", m->swinc_mask);
	jw_bool(w, "default_workload", !p->ff.has_workload);
	if (!m->skipped)
		jw_int(w, "run_ms", (long long)(m->run_ms + 0.5));
	jw_obj_end(w);
}

/*
 * "measurement": the first measured vCPU (what format 1 readers know);
 * "measurements": every measured vCPU, in the file's order.
 */
static void emit_measurement(struct jw *w, const struct probe *p)
{
	unsigned int i;

	if (!p->nmeasured) {
		jw_null(w, "measurement");
		jw_null(w, "measurements");
		return;
	}
	emit_one(w, "measurement", p, &p->m[0]);
	jw_arr_begin(w, "measurements");
	for (i = 0; i < p->nmeasured; i++)
		emit_one(w, NULL, p, &p->m[i]);
	jw_arr_end(w);
}

static void emit(const struct probe *p)
{
	struct utsname u;
	struct jw w;
	unsigned int v;

	jw_init(&w, stdout);
	jw_obj_begin(&w, NULL);
	jw_str(&w, "format", PROBE_FORMAT);
	jw_str(&w, "version", PROBE_VERSION);
	jw_str(&w, "uname", uname(&u) ? "" : u.release);
	jw_str(&w, "filter_file", p->path);
	if (p->parsed) {
		jw_uint(&w, "vcpus", p->ff.vcpus);
		jw_arr_begin(&w, "no_pmu_vcpus");
		for (v = 0; v < p->ff.vcpus; v++)
			if (p->ff.no_pmu_mask & (1u << v))
				jw_uint(&w, NULL, v);
		jw_arr_end(&w);
	} else {
		jw_null(&w, "vcpus");
	}
	if (p->vm.nvcpus) {
		jw_bool(&w, "cap_pmu_v3", p->vm.cap_pmu);
		jw_bool(&w, "has_filter_attr", p->vm.has_filter_attr);
		emit_vcpus(&w, p);
	}
	emit_steps(&w, p);
	emit_measurement(&w, p);
	jw_int(&w, "elapsed_ms", (long long)(ms_since(&p->t0) + 0.5));
	if (p->fds_at_end >= 0 && p->fds_at_start >= 0)
		jw_int(&w, "leaked_fds", p->fds_at_end - p->fds_at_start);
	else
		jw_null(&w, "leaked_fds");
	jw_str(&w, "fatal", p->fatal[0] ? p->fatal : NULL);
	jw_obj_end(&w);
	fputc('\n', stdout);
	fflush(stdout);
}

/* ---- main --------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pmu-probe [--timeout SECONDS] FILTER_FILE\n"
		"       pmu-probe --version\n"
		"Replays FILTER_FILE (docs/filter-file.rst) against a fresh KVM VM and\n"
		"prints one JSON object (" PROBE_FORMAT ") to stdout.\n"
		"Exit status: 0 result printed, 2 fatal setup error (see \"fatal\").\n");
}

static int parse_args(struct probe *p, int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--version")) {
			printf("pmu-probe %s (%s)\n", PROBE_VERSION, PROBE_FORMAT);
			exit(0);
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			p->timeout_s = strtoul(argv[++i], NULL, 10);
		} else if (argv[i][0] == '-' || p->path) {
			return -1;
		} else {
			p->path = argv[i];
		}
	}
	return p->path && p->timeout_s ? 0 : -1;
}

static void init_probe(struct probe *p)
{
	unsigned int v;

	memset(p, 0, sizeof(*p));
	p->vm.kvm_fd = p->vm.vm_fd = p->vm.gic_fd = -1;
	for (v = 0; v < FF_MAX_VCPUS; v++)
		p->vm.vcpu[v].fd = -1;
	p->timeout_s = DEFAULT_TIMEOUT_S;
	clock_gettime(CLOCK_MONOTONIC, &p->t0);
}

static int probe_run(struct probe *p)
{
	char err[256];
	struct sigaction sa = { .sa_handler = on_alarm };

	/* No SA_RESTART: the alarm must interrupt KVM_RUN. */
	sigaction(SIGALRM, &sa, NULL);
	if (ff_parse_path(p->path, &p->ff, err, sizeof(err)))
		return set_fatal(p, "filter file: %s", err);
	p->parsed = 1;
	p->res = calloc(p->ff.nsteps + FF_MAX_VCPUS + 1, sizeof(*p->res));
	if (!p->res)
		return set_fatal(p, "out of memory");
	if (create_vm(p) || run_steps(p))
		return -1;
	implicit_init(p);
	return measure(p);
}

int main(int argc, char **argv)
{
	static struct probe p;
	int ret;

	init_probe(&p);
	p.fds_at_start = count_open_fds();
	if (parse_args(&p, argc, argv)) {
		usage(stderr);
		return 2;
	}
	ret = probe_run(&p);
	destroy_vm(&p.vm);
	p.fds_at_end = count_open_fds();
	emit(&p);
	free(p.res);
	ff_free(&p.ff);
	return ret ? 2 : 0;
}
