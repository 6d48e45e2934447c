"""The local store: what is fetched (Debian packages through a private apt, checked against
the signed index) and what is kept (the content-addressed cache under ``~/.cache``, its
locks), and the bounded subprocess runs both need. Nothing here knows what a kernel, an
image set or a PMU is: the image builder (``harness.images``) and the kernel builder
(``harness.kbuild``) both stand on it.
"""
