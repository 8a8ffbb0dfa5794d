"""The review app's own hot paths: ``python -m benchmarks.app_paths``.

Prints figures (no pass/fail): on a throw-away SQLite database (the embedded default) and, with
``--postgres``, on a fresh PostgreSQL database —

* ``masklog.append`` (validate, lock the image row, number, insert): p50 / p95 ms over N edits;
* a workflow transition (policy, locked conditional update, audit row): mean ms;
* ``policies.can`` on an image: µs per call;
* exporting one approved image at ``--size`` (default 24 MP: 6000x4000): seconds for the ZIP with
  PNG, JPEG and TIFF with clipping path, SVG and manifest.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time


def setup(database_url: str | None, var: str) -> None:
    os.environ["JEWELREVIEW_VAR"] = var
    os.environ["MEDIA_ROOT"] = os.path.join(var, "media")
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.pop("REDIS_URL", None)
    os.environ["JR_BACKGROUND_EAGER"] = "0"
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jewelreview.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def ms(values):
    values = sorted(values)
    return statistics.median(values) * 1000, values[int(len(values) * 0.95) - 1] * 1000


def run(label: str, edits: int, size: tuple[int, int]) -> None:
    import numpy as np
    from django.contrib.auth.models import User
    from django.db import transaction

    from masks import synth
    from masks.imageio import encode_png
    from reviews import policies
    from reviews.models import ClientOrg, Collection, Image, Profile, Role, State, Studio
    from reviews.services import exports, masklog, storage, workflow

    studio = Studio.objects.create(name=f"bench {time.time()}")
    org = ClientOrg.objects.create(studio=studio, name="client")
    users = {}
    for name, role in (("lead", Role.LEAD), ("ret", Role.RETOUCHER), ("cli", Role.CLIENT)):
        u = User.objects.create_user(f"{name}-{studio.pk}", password="x")
        Profile.objects.create(user=u, role=role, studio=studio, client_org=org if role == Role.CLIENT else None)
        users[name] = u
    collection = Collection.objects.create(studio=studio, client_org=org, name="bench")
    w, h = size
    sample = synth.generate("ring", 1, size=(w, h))
    image = Image.objects.create(collection=collection, name="bench.jpg", state=State.IN_RETOUCH,
                                 assignee=users["ret"], width=w, height=h)
    storage.write_bytes(f"{image.folder}/srgb.png", encode_png(sample.image))
    image.base_alpha.name = storage.write_bytes(f"{image.folder}/base_alpha.png", encode_png(sample.alpha))
    image.save()

    times = []
    for i in range(edits):
        x, y = (i * 37) % (w - 50), (i * 53) % (h - 50)
        op = {"type": "stroke", "mode": "keep" if i % 2 else "remove", "points": [[x, y], [x + 30, y + 20]],
              "radius": 6, "hardness": 0.8}
        t = time.perf_counter()
        masklog.append(image.pk, users["ret"], "op", op, f"b{i}")
        times.append(time.perf_counter() - t)
    p50, p95 = ms(times)
    print(f"[{label}] masklog.append: p50 {p50:.2f} ms, p95 {p95:.2f} ms over {edits} edits")

    image = Image.objects.get(pk=image.pk)
    t = time.perf_counter()
    n = 2000
    for _ in range(n):
        policies.can(users["ret"], "edit_image", image)
    print(f"[{label}] policies.can(edit_image): {(time.perf_counter() - t) / n * 1e6:.1f} µs per call")

    steps = [("ret", "submit"), ("lead", "send_to_client"), ("cli", "approve")]
    t = time.perf_counter()
    for who, action in steps:
        workflow.transition(Image.objects.get(pk=image.pk), users[who], action)
    print(f"[{label}] workflow.transition: {(time.perf_counter() - t) / len(steps) * 1000:.1f} ms mean "
          f"({', '.join(a for _, a in steps)})")

    t = time.perf_counter()
    with transaction.atomic():
        export = exports.request_export(collection, users["lead"], "#ffffff")
    export.refresh_from_db()
    took = time.perf_counter() - t
    size_mb = export.file.size / 1e6 if export.file else 0
    print(f"[{label}] export of one approved {w}x{h} image ({edits} edits): {took:.2f} s, "
          f"{export.status}, ZIP {size_mb:.1f} MB")
    del np


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=300)
    parser.add_argument("--size", default="6000x4000", help="WxH of the exported image (pixels)")
    parser.add_argument("--postgres", action="store_true", help="run on a fresh PostgreSQL database instead")
    args = parser.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory(prefix="jr-bench-") as var:
        db = None
        if args.postgres:
            from benchmarks.harness import PgDatabase

            db = PgDatabase(prefix="jr_bench")
        try:
            setup(db.url() if db else None, var)
            run("postgresql" if db else "sqlite", args.edits, (w, h))
        finally:
            if db:
                from django.db import connections

                connections.close_all()
                db.drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
