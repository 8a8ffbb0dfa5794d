"""Shared fixtures for the Django side: a small world of two studios, their people and objects."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import pytest


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # the default PBKDF2 costs ~0.3 s per user; tests create dozens
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _inline_ingest(settings):
    # without a broker, ingest runs inline (on commit) so a test sees its result at once
    settings.JEWELREVIEW = {**settings.JEWELREVIEW, "BACKGROUND_EAGER": False}


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Each test writes media to its own folder, so parallel workers never share files."""
    from django.core.files.storage import default_storage

    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path / "media")}},
    }
    from django.utils.functional import empty

    # default_storage is a lazy object caching its backend; drop the cache so it sees the setting

    default_storage._wrapped = empty
    yield
    default_storage._wrapped = empty


def make_user(username, role, studio, client_org=None, password="pw"):
    from django.contrib.auth.models import User

    from reviews.models import Profile

    user = User.objects.create_user(username=username, password=password, first_name=username.title())
    Profile.objects.create(user=user, role=role, studio=studio, client_org=client_org)
    return user


@dataclass
class World:
    studio: object
    other_studio: object
    org: object  # client_a's organisation, in studio
    other_org: object  # client_b's organisation, in studio
    users: dict = field(default_factory=dict)
    collection: object = None  # studio / org
    other_org_collection: object = None  # studio / other_org
    other_studio_collection: object = None  # other_studio
    image: object = None  # in collection, assigned to retoucher1
    unassigned: object = None  # in collection, nobody's
    other_org_image: object = None
    other_studio_image: object = None


def _image(collection, name, state, assignee=None, sent=False):
    from django.utils import timezone

    from reviews.models import Image

    return Image.objects.create(
        collection=collection, name=name, state=state, assignee=assignee, width=120, height=90,
        sent_to_client_at=timezone.now() if sent else None,
    )


@pytest.fixture
def world(db):
    from reviews.models import ClientOrg, Collection, Role, State, Studio

    studio = Studio.objects.create(name="Atelier")
    other_studio = Studio.objects.create(name="Elsewhere")
    org = ClientOrg.objects.create(studio=studio, name="Maison A")
    other_org = ClientOrg.objects.create(studio=studio, name="Maison B")
    w = World(studio=studio, other_studio=other_studio, org=org, other_org=other_org)
    w.users = {
        "lead": make_user("lead", Role.LEAD, studio),
        "retoucher1": make_user("retoucher1", Role.RETOUCHER, studio),
        "retoucher2": make_user("retoucher2", Role.RETOUCHER, studio),
        "client_a": make_user("client_a", Role.CLIENT, studio, org),
        "client_b": make_user("client_b", Role.CLIENT, studio, other_org),
        "other_lead": make_user("other_lead", Role.LEAD, other_studio),
    }
    w.collection = Collection.objects.create(studio=studio, client_org=org, name="Rings")
    w.other_org_collection = Collection.objects.create(studio=studio, client_org=other_org, name="Chains")
    other_org_b = ClientOrg.objects.create(studio=other_studio, name="Maison Z")
    w.other_studio_collection = Collection.objects.create(studio=other_studio, client_org=other_org_b, name="Z")
    w.image = _image(w.collection, "ring-1.jpg", State.IN_RETOUCH, w.users["retoucher1"])
    w.unassigned = _image(w.collection, "ring-2.jpg", State.READY_FOR_RETOUCH)
    w.other_org_image = _image(w.other_org_collection, "chain-1.jpg", State.CLIENT_REVIEW, w.users["retoucher1"], sent=True)
    w.other_studio_image = _image(w.other_studio_collection, "z-1.jpg", State.CLIENT_REVIEW, sent=True)
    return w


def small_photo(w=120, h=90, seed=0):
    """A tiny synthetic jewelry photo and its ground-truth alpha (uint8 arrays, fresh copies)."""
    image, alpha = _synth_photo(w, h, seed)
    return image.copy(), alpha.copy()


@functools.lru_cache(maxsize=16)
def _synth_photo(w, h, seed):
    from masks import synth

    sample = synth.generate("ring", seed, size=(w, h), backdrop="white")  # ~0.3 s even when small
    return sample.image, sample.alpha


def jpeg_bytes(rgb, quality=90) -> bytes:
    import io

    from PIL import Image as PILImage

    buf = io.BytesIO()
    PILImage.fromarray(rgb).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def make_ingested(image, rgb=None, alpha=None):
    """Give ``image`` what ingest would have stored (sRGB PNG + base alpha) without running it.

    Lets mask-log, export and view tests run without the tile/QA pipeline."""
    from masks.imageio import encode_png

    from reviews.services import storage

    if rgb is None:
        rgb, alpha = small_photo(image.width or 120, image.height or 90)
    storage.write_bytes(f"{image.folder}/srgb.png", encode_png(rgb))
    image.base_alpha.name = storage.write_bytes(f"{image.folder}/base_alpha.png", encode_png(alpha))
    if not image.original:
        image.original.name = storage.write_bytes(f"{image.folder}/original.jpg", jpeg_bytes(rgb))
    image.width, image.height = rgb.shape[1], rgb.shape[0]
    image.save()
    return image


def rect_op(x, y, w, h, mode="add"):
    return {"type": "path", "d": f"M{x} {y}H{x + w}V{y + h}H{x}Z", "mode": mode, "fill_rule": "nonzero", "feather": 0}


def pytest_collection_modifyitems(config, items):
    """Browser tests run last in each worker: Playwright's sync API keeps an event loop running
    in the worker's main thread for the rest of the session, and any test after it that calls
    ``asyncio.run()`` would fail with "cannot be called from a running event loop"."""
    items.sort(key=lambda item: item.nodeid.startswith("tests/browser/"))  # stable: order kept otherwise
