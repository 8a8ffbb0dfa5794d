"""Ingest as Celery tasks (eager here): each image on its own, failures say why and retry."""
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from masks.imageio import decode_png, encode_png
from reviews.models import AuditEvent, Image, QAFinding, State
from reviews.services import storage, workflow
from reviews.services.ingest import accept_upload, run_ingest
from reviews.tasks import ingest_image
from tests.conftest import jpeg_bytes, small_photo

pytestmark = pytest.mark.django_db


def upload(world, files, capture):
    with capture(execute=True):  # on_commit → task.delay → runs eagerly (no broker configured)
        return accept_upload(world.collection, [SimpleUploadedFile(n, d) for n, d in files], world.users["lead"])


def test_upload_ingests_each_image(world, django_capture_on_commit_callbacks):
    rgb, alpha = small_photo()
    ai = alpha.copy()
    ai[20:40, 20:40] = 0  # the cutout made elsewhere has a hole the QA should find
    result = upload(world, [("with.jpg", jpeg_bytes(rgb)), ("with.cutout.png", encode_png(ai)),
                            ("without.jpg", jpeg_bytes(rgb))], django_capture_on_commit_callbacks)
    by_name = {i.name: Image.objects.get(pk=i.pk) for i in result.created}
    for image in by_name.values():
        assert image.state == State.READY_FOR_RETOUCH, image.error
        assert image.ingested_at and image.ai_path.startswith("M") and image.tiles_prefix
        assert storage.exists(f"{image.tiles_prefix}/original.dzi") and storage.exists(f"{image.tiles_prefix}/cutout.dzi")
        assert storage.exists(f"{image.folder}/srgb.png") and storage.exists(f"{image.folder}/qa_heatmap.png")
    with_cutout, first_pass = by_name["with.jpg"], by_name["without.jpg"]
    assert with_cutout.base_source == "upload" and first_pass.base_source == "segment"
    assert np.array_equal(decode_png(storage.read_bytes(with_cutout.base_alpha.name)), ai)
    seg = decode_png(storage.read_bytes(first_pass.base_alpha.name))
    assert seg.shape == alpha.shape and 0.5 < (seg >= 128).sum() / max((alpha >= 128).sum(), 1) < 2
    assert AuditEvent.objects.filter(action="ingested").count() == 2


def test_photo_with_its_own_alpha_uses_it(world, django_capture_on_commit_callbacks):
    rgb, alpha = small_photo()
    rgba = encode_png(np.dstack([rgb, alpha]))
    [image] = upload(world, [("cut.png", rgba)], django_capture_on_commit_callbacks).created
    image.refresh_from_db()
    assert image.base_source == "upload"
    assert np.array_equal(decode_png(storage.read_bytes(image.base_alpha.name)), alpha)


def test_failure_says_why_others_go_on_and_retry_works(world, django_capture_on_commit_callbacks, monkeypatch):
    rgb, alpha = small_photo()
    result = upload(world, [("a.jpg", jpeg_bytes(rgb))], django_capture_on_commit_callbacks)
    assert Image.objects.get(pk=result.created[0].pk).state == State.READY_FOR_RETOUCH
    # a file that went bad in storage after upload (disk, sync): ingest must say so
    monkeypatch.setattr("reviews.tasks.ingest_image.delay", lambda pk: None)
    res = accept_upload(world.collection, [SimpleUploadedFile("b.jpg", jpeg_bytes(rgb)),
                                           SimpleUploadedFile("c.jpg", jpeg_bytes(rgb))], world.users["lead"])
    bad, good = res.created
    storage.write_bytes(bad.original.name, b"garbage")
    assert run_ingest(bad.pk) == State.FAILED
    assert run_ingest(good.pk) == State.READY_FOR_RETOUCH
    bad.refresh_from_db()
    assert bad.state == State.FAILED and bad.error and "image" in bad.error.lower()
    assert AuditEvent.objects.filter(action="ingest_failed", image_id=bad.pk).exists()
    storage.write_bytes(bad.original.name, jpeg_bytes(rgb))  # fixed at the source
    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        workflow.transition(bad, world.users["lead"], "retry_ingest")
    bad.refresh_from_db()
    assert bad.state == State.READY_FOR_RETOUCH and bad.error == "" and bad.ingest_attempts == 2


def test_task_is_idempotent(world, monkeypatch):
    monkeypatch.setattr("reviews.tasks.ingest_image.delay", lambda pk: None)
    rgb, _ = small_photo()
    [image] = accept_upload(world.collection, [SimpleUploadedFile("i.jpg", jpeg_bytes(rgb))], world.users["lead"]).created
    assert ingest_image.apply(args=[image.pk]).get() == State.READY_FOR_RETOUCH
    findings = list(QAFinding.objects.filter(image=image).values_list("kind", "x", "y"))
    # redelivered (acks_late) after it finished: nothing changes
    assert ingest_image.apply(args=[image.pk]).get() == State.READY_FOR_RETOUCH
    assert list(QAFinding.objects.filter(image=image).values_list("kind", "x", "y")) == findings
    assert Image.objects.get(pk=image.pk).ingest_attempts == 1
    # redelivered while marked processing (the first worker died): it runs again to the end
    Image.objects.filter(pk=image.pk).update(state=State.PROCESSING)
    assert run_ingest(image.pk) == State.READY_FOR_RETOUCH
    assert list(QAFinding.objects.filter(image=image).values_list("kind", "x", "y")) == findings
    assert ingest_image.acks_late and ingest_image.reject_on_worker_lost


def test_progress_endpoint(world, client, monkeypatch):
    monkeypatch.setattr("reviews.tasks.ingest_image.delay", lambda pk: None)
    rgb, _ = small_photo()
    [image] = accept_upload(world.collection, [SimpleUploadedFile("p.jpg", jpeg_bytes(rgb))], world.users["lead"]).created
    client.force_login(world.users["lead"])
    data = client.get(f"/collections/{world.collection.pk}/progress.json").json()
    assert data["counts"]["new"] == 1 and data["total"] == 3 and data["ingested"] == 2
    run_ingest(image.pk)
    data = client.get(f"/collections/{world.collection.pk}/progress.json").json()
    assert data["counts"]["new"] == 0 and data["ingested"] == 3
    assert {r["name"]: r["state"] for r in data["images"]}["p.jpg"] == State.READY_FOR_RETOUCH


def test_photo_with_an_embedded_clipping_path_uses_it(world, django_capture_on_commit_callbacks):
    """A TIFF delivered with a Photoshop clipping path: the path is the starting mask."""
    from masks.export import export_tiff
    from masks.trace import trace

    rgb, alpha = small_photo()
    tif = export_tiff(rgb, alpha, background="#ffffff", clip_path=trace(alpha))
    [image] = upload(world, [("clipped.tif", tif)], django_capture_on_commit_callbacks).created
    image.refresh_from_db()
    assert image.state == State.READY_FOR_RETOUCH and image.base_source == "upload", image.error
    base = decode_png(storage.read_bytes(image.base_alpha.name))
    assert np.mean((base >= 128) != (alpha >= 128)) < 0.02


def test_embedded_default_ingests_in_the_background(world, settings, monkeypatch, django_capture_on_commit_callbacks):
    """Without a broker the upload answers at once; the eager task runs in a pool thread."""
    import threading

    settings.JEWELREVIEW = {**settings.JEWELREVIEW, "BACKGROUND_EAGER": True}
    assert settings.CELERY_TASK_ALWAYS_EAGER
    release, ran = threading.Event(), []

    def slow_apply(args=(), **kwargs):  # stands in for Task.apply
        release.wait(10)  # the ingest is still running when the upload has returned
        ran.append((args[0], threading.current_thread().name))

    monkeypatch.setattr("reviews.tasks.ingest_image.apply", slow_apply)
    rgb, _ = small_photo()
    with django_capture_on_commit_callbacks(execute=True):
        [image] = accept_upload(world.collection, [SimpleUploadedFile("bg.jpg", jpeg_bytes(rgb))], world.users["lead"]).created
    assert ran == [] and Image.objects.get(pk=image.pk).state == State.NEW
    release.set()
    from reviews.services.background import wait_idle

    wait_idle(10)
    assert ran and ran[0][0] == image.pk and ran[0][1].startswith("jr-background")


def test_local_tiles_are_built_beside_their_folder_and_replace_the_old_set(world, monkeypatch,
                                                                          django_capture_on_commit_callbacks):
    """Local storage: the pyramids are staged next to <folder>/tiles (same file system) and
    swapped in whole; nothing is built under the system temp folder and moved across."""
    import os
    import tempfile

    from reviews.services.ingest import build_tiles

    rgb, alpha = small_photo()
    [image] = upload(world, [("a.jpg", jpeg_bytes(rgb))], django_capture_on_commit_callbacks).created
    image.refresh_from_db()
    local = storage.local_path(image.tiles_prefix)
    assert local is not None  # the tests run on local storage
    stale = os.path.join(local, "stale_files")
    os.makedirs(stale)

    def no_temp(*args, **kwargs):
        raise AssertionError("local tiles must not be built under the system temp folder")

    monkeypatch.setattr(tempfile, "mkdtemp", no_temp)
    assert build_tiles(image, rgb, alpha) == image.tiles_prefix
    assert storage.exists(f"{image.tiles_prefix}/original.dzi") and storage.exists(f"{image.tiles_prefix}/cutout.dzi")
    assert not os.path.exists(stale)  # the old set went as a whole
    # No staging folder (".tiles.part-…") or old set left beside it.
    assert [n for n in os.listdir(os.path.dirname(local)) if n.startswith(".tiles")] == []
