/* SPDX-License-Identifier: MIT */
/*
 * vmcost: how long making and closing an empty KVM VM takes, per guest physical address
 * size (the IPA bits given as KVM_CREATE_VM's type; 0: KVM's default). Prints KVM's
 * limit, then one line per size: "ipa <bits> create <s> destroy <s>". Run inside L1 by
 * bench/kvm_vm_teardown.py; built static for arm64 there.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static double seconds(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec + now.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (kvm < 0) {
		perror("/dev/kvm");
		return 1;
	}
	printf("limit %d\n", ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_ARM_VM_IPA_SIZE));
	for (int i = 1; i < argc; i++) {
		int bits = atoi(argv[i]);
		double started = seconds(), made, closed;
		int vm = ioctl(kvm, KVM_CREATE_VM, bits);

		made = seconds();
		if (vm < 0) {
			printf("ipa %d refused\n", bits);
			continue;
		}
		close(vm);
		closed = seconds();
		printf("ipa %d create %.4f destroy %.4f\n", bits, made - started, closed - made);
		fflush(stdout);
	}
	return 0;
}
