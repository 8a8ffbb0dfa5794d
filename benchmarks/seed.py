"""Seed a run of the scale tests / benchmarks: ``python -m benchmarks.seed [options]``.

Runs against whatever DATABASE_URL / MEDIA_ROOT the environment names (the harness sets a fresh
PostgreSQL database). Creates one studio, its people (leads, so any of them may edit any image)
with ready-made login sessions, and either editable images (a synthetic photo and its AI alpha
stored as ingest would leave them) or, with ``--ingest``, uploads queued for the Celery ingest.
Prints one JSON line: ids, session keys, collection.
"""
from __future__ import annotations

import argparse
import functools
import io
import json
import os
import sys


def _png(array) -> bytes:
    from masks.imageio import encode_png

    return encode_png(array)


def _jpeg(rgb) -> bytes:
    from PIL import Image as PILImage

    buf = io.BytesIO()
    PILImage.fromarray(rgb).save(buf, "JPEG", quality=92)
    return buf.getvalue()


@functools.lru_cache(maxsize=64)
def _sample(i: int, w: int, h: int):
    from masks import synth

    return synth.generate(synth.KINDS[i % len(synth.KINDS)], seed=1000 + i, size=(w, h),
                          backdrop=synth.BACKDROPS[i % len(synth.BACKDROPS)])


def session_for(user) -> str:
    """A logged-in session for ``user`` (what django.contrib.auth.login stores)."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from importlib import import_module

    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.set_expiry(24 * 3600)
    store.save()
    return store.session_key


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reviewers", type=int, default=2, help="lead accounts with sessions")
    ap.add_argument("--retoucher", action="store_true", help="also a retoucher the images are assigned to")
    ap.add_argument("--client", action="store_true", help="also a client of the collection's organisation")
    ap.add_argument("--images", type=int, default=1)
    ap.add_argument("--size", default="320x240", help="WxH pixels of each image")
    ap.add_argument("--ingest", action="store_true", help="upload photos and queue their ingest instead")
    ap.add_argument("--enqueue", type=int, default=1, help="with --ingest: 0 = create only, do not queue")
    ap.add_argument("--prefix", default="s", help="username / collection prefix (unique per call)")
    ap.add_argument("--password", default="", help="a usable password for every account (slow hash)")
    ap.add_argument("--distinct", type=int, default=0, help="only this many different photos, repeated (0 = all)")
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jewelreview.settings")
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.files.base import ContentFile
    from django.db import transaction

    from reviews.models import ClientOrg, Collection, Image, Profile, Role, State, Studio
    from reviews.services import ingest, storage

    p = args.prefix
    studio = Studio.objects.create(name=f"{p}-studio")
    org = ClientOrg.objects.create(studio=studio, name=f"{p}-maison")
    collection = Collection.objects.create(studio=studio, client_org=org, name=f"{p}-collection")

    def person(username: str, role: str, client_org=None):
        user = User(username=username, first_name=username.title())
        if args.password:
            user.set_password(args.password)
        else:
            user.set_unusable_password()  # sessions below; hashing 50 passwords is seconds of CPU
        user.save()
        Profile.objects.create(user=user, role=role, studio=studio, client_org=client_org)
        return user

    leads = [person(f"{p}-lead{i}", Role.LEAD) for i in range(args.reviewers)]
    out = {"collection": collection.pk, "studio": studio.pk, "users": {}, "sessions": {}, "images": []}
    people = list(leads)
    retoucher = person(f"{p}-retoucher", Role.RETOUCHER) if args.retoucher else None
    client = person(f"{p}-client", Role.CLIENT, org) if args.client else None
    people += [u for u in (retoucher, client) if u is not None]
    for u in people:
        out["users"][u.username] = u.pk
        out["sessions"][u.username] = session_for(u)

    ids = []
    for i in range(args.images):
        sample = _sample(i % args.distinct if args.distinct else i, w, h)
        name = f"{p}-{i:04d}.jpg"
        if args.ingest:
            with transaction.atomic():
                image = Image(collection=collection, name=name, state=State.NEW, width=w, height=h)
                image.original.save(name, ContentFile(_jpeg(sample.image)), save=False)
                image.save()
                ids.append(image.pk)
            continue
        image = Image(collection=collection, name=name, state=State.IN_RETOUCH, width=w, height=h,
                      assignee=retoucher, base_source="upload")
        image.original.save(name.replace(".jpg", ".png"), ContentFile(_png(sample.image)), save=False)
        image.save()
        image.base_alpha.name = storage.write_bytes(f"{image.folder}/base_alpha.png", _png(sample.alpha))
        storage.write_bytes(f"{image.folder}/srgb.png", _png(sample.image))
        image.save(update_fields=["base_alpha"])
        ids.append(image.pk)
    if args.ingest and args.enqueue:
        with transaction.atomic():
            ingest.enqueue_ingest(ids)
    out["images"] = ids
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
