"""pmu-harness: prove that KVM/arm64 PMU event filtering works, on real kernels."""

__version__ = "0.1.0"
