"""Kernels built from source: a tree (Debian ``linux-source-X`` or the user's checkout), an
ordered list of patch series, Kconfig fragments and build options, cached by content."""
