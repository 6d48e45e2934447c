/* SPDX-License-Identifier: MIT */
/*
 * Guest payload of pmu-probe: AArch64, entered at EL1 with the MMU off.
 *
 * The host never executes this; it copies the bytes between
 * pmu_payload_start and pmu_payload_end to PAYLOAD_IPA. The code is
 * position independent (adr only) and keeps everything in registers, so
 * it needs no stack.
 *
 * Entry: x0 = this vCPU's parameter block. The payload then loops for
 * ever: read the command, execute it, store K_DONE. The VMM sets the PC
 * exactly once; every later KVM_RUN resumes after the K_DONE store. This
 * avoids rewriting the PC while KVM still owes the vCPU the PC step of
 * the completed MMIO store (that step is applied on the next KVM_RUN).
 *
 * Registers kept across the loop:
 *   x19 parameter block, x20 REPORT_IPA.
 */
#include "payload.h"

/* Store \reg to key \key of the report window: one KVM_EXIT_MMIO.
 * Plain [xN] addressing so the data abort always has a valid syndrome. */
.macro report key, reg
	add	x10, x20, #((\key) * 8)
	str	\reg, [x10]
.endm

	.section .rodata.pmu_payload, "a"
	.balign 2048
	.globl	pmu_payload_start
pmu_payload_start:
	mov	x19, x0
	movz	x20, #(REPORT_IPA >> 16), lsl #16
	adr	x1, vectors
	msr	vbar_el1, x1
	isb

cmd_loop:
	ldr	x1, [x19, #P_CMD]
	cmp	x1, #CMD_MEASURE
	b.ne	1f
	bl	measure
1:	report	K_DONE, x1
	b	cmd_loop

/*
 * The measurement. Reads what the guest is told about the PMU, then
 * counts the requested events over a spin loop.
 */
measure:
	mrs	x2, pmceid0_el0
	report	K_PMCEID0, x2
	mrs	x2, pmceid1_el0
	report	K_PMCEID1, x2
	mrs	x2, id_aa64dfr0_el1
	report	K_DFR0, x2
	mrs	x2, pmcr_el0
	report	K_PMCR, x2

	/* x22 = counters to program = min(requested, PMCR_EL0.N) */
	ubfx	x21, x2, #11, #5
	ldr	x22, [x19, #P_NEVENTS]
	cmp	x22, x21
	csel	x22, x22, x21, ls
	report	K_NPROG, x22

	/* Quiesce: nothing counting, no overflow state, no interrupts. */
	mov	w2, #-1
	msr	pmcntenclr_el0, x2
	msr	pmovsclr_el0, x2
	msr	pmintenclr_el1, x2
	isb

	/* PMCR: E (enable), P (reset event counters), C (reset cycle
	 * counter), LC (64-bit cycle counter, so a long run cannot wrap). */
	mov	x2, #((1 << 0) | (1 << 1) | (1 << 2) | (1 << 6))
	msr	pmcr_el0, x2
	isb

	/* Event counter n counts P_EVENTS[n] at EL0 and EL1 (filter bits 0). */
	mov	x3, #0
	add	x4, x19, #P_EVENTS
2:	cmp	x3, x22
	b.hs	3f
	msr	pmselr_el0, x3
	isb
	ldr	x5, [x4, x3, lsl #3]
	msr	pmxevtyper_el0, x5
	add	x3, x3, #1
	b	2b
	/* PMCCFILTR: the workload's value (its event field only; 0 by
	 * default), read back to show what KVM kept of it. */
3:	ldr	x5, [x19, #P_PMCCFILTR]
	msr	pmccfiltr_el0, x5
	isb
	mrs	x5, pmccfiltr_el0
	report	K_PMCCFILTR, x5

	/* x6 = enable mask: counters 0..x22-1, plus bit 31 for PMCCNTR. */
	mov	x6, #1
	lsl	x6, x6, x22
	sub	x6, x6, #1
	ldr	x7, [x19, #P_CYCLES]
	cbz	x7, 4f
	orr	x6, x6, #(1 << 31)
4:	ldr	x8, [x19, #P_SWINC]
	and	x8, x8, x6
	ldr	x9, [x19, #P_LOOPS]
	isb
	msr	pmcntenset_el0, x6
	isb

	/* The measured loop. SW_INCR counters only move when written to
	 * PMSWINC_EL0, so do that once per iteration if any are in use. */
5:	cbz	x9, 7f
	cbz	x8, 6f
	msr	pmswinc_el0, x8
6:	sub	x9, x9, #1
	b	5b

7:	msr	pmcntenclr_el0, x6
	isb

	/* Read back through PMSELR/PMXEVCNTR: one code path for any n. */
	mov	x3, #0
8:	cmp	x3, x22
	b.hs	9f
	msr	pmselr_el0, x3
	isb
	mrs	x5, pmxevcntr_el0
	add	x10, x20, #(K_CNT0 * 8)
	add	x10, x10, x3, lsl #3
	str	x5, [x10]
	add	x3, x3, #1
	b	8b
9:	mrs	x5, pmccntr_el0
	report	K_CCNT, x5
	ret

/*
 * Any exception is a bug or an unexpected trap (e.g. an UNDEFINED PMU
 * register): report the syndrome instead of spinning on an unknown
 * vector, and stay parked. The VMM turns K_EXC_VEC into a fatal error.
 */
exc_common:
	mrs	x12, esr_el1
	report	K_EXC_ESR, x12
	mrs	x12, elr_el1
	report	K_EXC_ELR, x12
	mrs	x12, far_el1
	report	K_EXC_FAR, x12
	report	K_EXC_VEC, x11
10:	wfi
	b	10b

.macro vector idx
	.balign	0x80
	mov	x11, #\idx
	b	exc_common
.endm

	.balign	2048
vectors:
	.irp	i, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
	vector	\i
	.endr

	.globl	pmu_payload_end
pmu_payload_end:
