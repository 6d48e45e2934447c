/* SPDX-License-Identifier: MIT */
/*
 * Guest memory map and the VMM <-> payload protocol of pmu-probe.
 *
 * Included by both payload.S (assembler) and the C side, so it holds
 * nothing but plain #defines.
 */
#ifndef PMU_PROBE_PAYLOAD_H
#define PMU_PROBE_PAYLOAD_H

/* Guest physical layout: 2 MiB of RAM at IPA 0. */
#define GUEST_RAM_IPA		0x0
#define GUEST_RAM_SIZE		0x200000
#define PAYLOAD_IPA		0x0		/* must stay 2 KiB aligned (VBAR) */
#define PARAM_IPA		0x100000	/* one parameter block per vCPU */
#define PARAM_STRIDE		0x200

/*
 * Unmapped IPA the payload stores its results to: every store is a
 * KVM_EXIT_MMIO carrying one 64-bit value, the offset / 8 is the key.
 * Kept well clear of RAM and of the vGIC frames below.
 */
#define REPORT_IPA		0x20000000

/* vGICv3 frames, same addresses as QEMU's virt board. */
#define VGIC_DIST_IPA		0x08000000
#define VGIC_REDIST_IPA		0x080A0000

/* Parameter block layout (64-bit little-endian fields). */
#define P_CMD			0	/* CMD_* */
#define P_NEVENTS		8	/* event counters to program */
#define P_CYCLES		16	/* 1: enable PMCCNTR too */
#define P_LOOPS			24	/* spin iterations */
#define P_SWINC			32	/* PMSWINC_EL0 value per iteration */
#define P_PMCCFILTR		40	/* written to PMCCFILTR_EL0 before counting */
#define P_EVENTS		64	/* u64 event number per counter */
#define P_MAX_EVENTS		31

#define CMD_NOOP		0
#define CMD_MEASURE		1

/* Report keys (store address = REPORT_IPA + 8 * key). */
#define K_DONE			0	/* last store of every command */
#define K_PMCEID0		1
#define K_PMCEID1		2
#define K_PMCR			3	/* PMCR_EL0 as first read */
#define K_DFR0			4	/* ID_AA64DFR0_EL1 */
#define K_NPROG			5	/* counters actually programmed */
#define K_CCNT			6	/* PMCCNTR_EL0 */
#define K_PMCCFILTR		7	/* PMCCFILTR_EL0 read back after the write */
#define K_EXC_ESR		8	/* guest took an exception: ESR_EL1 */
#define K_EXC_ELR		9
#define K_EXC_FAR		10
#define K_EXC_VEC		11	/* vector offset / 0x80, sent last */
#define K_CNT0			32	/* PMEVCNTR<n>_EL0 at K_CNT0 + n */
#define K_NKEYS			64

#endif
