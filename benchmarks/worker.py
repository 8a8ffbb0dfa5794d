"""A Celery worker of ``jewelreview.celery.app`` for the scale tests and benchmarks.

``python -m benchmarks.worker worker -c 1 ...`` is ``celery -A jewelreview worker ...`` plus a
test-only knob read from the environment (the Redis broker's visibility timeout — how long a
task whose worker died waits before another worker gets it — is the settings'
``CELERY_VISIBILITY_TIMEOUT``; the fault tests set a few seconds):

* ``JR_FAULT_PAUSE_BEFORE_RENAME`` (fnmatch pattern of a destination path) and
  ``JR_FAULT_MARKER`` (a file): the first time this worker is about to ``os.replace`` a finished
  temporary file onto a matching path, it creates the marker and stops there until it is killed.
  The test kills it at exactly that moment: the data is complete on disk under a temporary name,
  not yet renamed. A later attempt (the marker exists) runs normally.
"""
from __future__ import annotations

import fnmatch
import os
import sys
import time


def _install_pause(pattern: str, marker: str) -> None:
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if fnmatch.fnmatch(os.fspath(dst), pattern) and not os.path.exists(marker):
            with open(marker, "w") as fh:
                fh.write(f"{os.getpid()} {os.fspath(src)} -> {os.fspath(dst)}\n")
            while True:  # the test SIGKILLs us here; bounded by the test's own timeout
                time.sleep(0.5)
        return real_replace(src, dst, *args, **kwargs)

    os.replace = replace


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jewelreview.settings")
    import django

    django.setup()
    from jewelreview.celery import app

    pattern = os.environ.get("JR_FAULT_PAUSE_BEFORE_RENAME")
    if pattern:
        _install_pause(pattern, os.environ["JR_FAULT_MARKER"])
    app.worker_main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
