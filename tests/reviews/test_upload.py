"""Upload guards: every bad file is refused with a reason and nothing else is touched."""
import io
import os
import struct
import zipfile
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from masks.imageio import encode_png
from reviews.models import AuditEvent, Image, State
from reviews.services.ingest import accept_upload
from tests.conftest import jpeg_bytes, small_photo

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_ingest(monkeypatch):
    """Queueing is tested elsewhere; here only what the upload step stores matters."""
    queued = []
    monkeypatch.setattr("reviews.tasks.ingest_image.delay", lambda pk: queued.append(pk))
    return queued


def f(name, data):
    return SimpleUploadedFile(name, data)


def zip_of(members, compression=zipfile.ZIP_DEFLATED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


def png_header_bomb(w=60000, h=60000) -> bytes:
    """A valid-looking PNG whose header claims w×h pixels (3.6 gigapixels), a few bytes long."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


@pytest.fixture
def photo():
    rgb, alpha = small_photo()
    return jpeg_bytes(rgb), encode_png(alpha)


def snapshot(collection):
    return list(collection.images.order_by("pk").values())


def test_many_files_with_cutouts_are_paired(world, photo, no_ingest, django_capture_on_commit_callbacks):
    jpg, mask = photo
    with django_capture_on_commit_callbacks(execute=True):
        result = accept_upload(world.collection, [f("a.jpg", jpg), f("a.cutout.png", mask), f("b.jpg", jpg)], world.users["lead"])
    assert result.refused == []
    names = {i.name: i for i in result.created}
    assert set(names) == {"a.jpg", "b.jpg"}
    assert names["a.jpg"].cutout_upload and not names["b.jpg"].cutout_upload
    assert all(i.state == State.NEW and (i.width, i.height) == (120, 90) for i in result.created)
    assert sorted(no_ingest) == sorted(i.pk for i in result.created)
    assert AuditEvent.objects.filter(action="uploaded", collection_id=world.collection.pk).exists()


def test_one_zip_is_unpacked(world, photo):
    jpg, mask = photo
    data = zip_of([("shoot/c.jpg", jpg), ("shoot/c_mask.png", mask), ("__MACOSX/._c.jpg", b"junk"), ("shoot/.DS_Store", b"x")])
    result = accept_upload(world.collection, [f("shoot.zip", data)], world.users["lead"])
    assert [i.name for i in result.created] == ["c.jpg"] and result.refused == []
    assert result.created[0].cutout_upload


@pytest.mark.parametrize("name,data,reason", [
    ("notes.jpg", b"this is not a picture at all" * 10, "not|cannot|identify|image"),
    ("readme.txt", b"hello", "not an image type"),
    ("bomb.png", png_header_bomb(), "pixels|large|bomb"),
])
def test_bad_files_are_refused_and_nothing_else_touched(world, photo, name, data, reason):
    jpg, _ = photo
    before = snapshot(world.collection)
    result = accept_upload(world.collection, [f(name, data), f("good.jpg", jpg)], world.users["lead"])
    assert [i.name for i in result.created] == ["good.jpg"]
    assert len(result.refused) == 1 and result.refused[0][0] == name
    import re
    assert re.search(reason, result.refused[0][1], re.I), result.refused
    after = [row for row in snapshot(world.collection) if row["name"] != "good.jpg"]
    assert after == before


def test_truncated_jpeg_is_refused(world, photo):
    jpg, _ = photo
    result = accept_upload(world.collection, [f("cut.jpg", jpg[: len(jpg) // 2])], world.users["lead"])
    assert not result.created and "trunc" in result.refused[0][1].lower()
    assert not Image.objects.filter(name="cut.jpg").exists()


def test_huge_file_is_refused_before_reading(world, photo, settings):
    settings.JEWELREVIEW = {**settings.JEWELREVIEW, "MAX_FILE_BYTES": 1000}
    jpg, _ = photo
    assert len(jpg) > 1000
    result = accept_upload(world.collection, [f("big.jpg", jpg)], world.users["lead"])
    assert not result.created and "larger than" in result.refused[0][1]


def test_zip_bomb_member_and_declared_size_are_refused(world, photo, settings):
    jpg, _ = photo
    bomb = zip_of([("zeros.png", b"\x00" * (8 << 20)), ("ok.jpg", jpg)])
    assert len(bomb) < 100_000
    result = accept_upload(world.collection, [f("bomb.zip", bomb)], world.users["lead"])
    assert [i.name for i in result.created] == ["ok.jpg"]
    assert "ZIP bomb" in result.refused[0][1]
    settings.JEWELREVIEW = {**settings.JEWELREVIEW, "MAX_ZIP_TOTAL_BYTES": 4 << 20}
    result = accept_upload(world.collection, [f("bomb2.zip", bomb)], world.users["lead"])
    assert not result.created and "would unpack" in result.refused[0][1]


def test_lying_zip_header_is_caught(world, photo):
    """A member whose header declares fewer bytes than it holds is not unpacked past the claim."""
    jpg, _ = photo
    data = bytearray(zip_of([("x.jpg", jpg)], compression=zipfile.ZIP_STORED))
    # shrink the declared uncompressed size in the central directory and local header
    zf = zipfile.ZipFile(io.BytesIO(bytes(data)))
    info = zf.infolist()[0]
    real = struct.pack("<I", info.file_size)
    fake = struct.pack("<I", 100)
    data = bytes(data).replace(real, fake)
    result = accept_upload(world.collection, [f("liar.zip", data)], world.users["lead"])
    assert not result.created
    assert "unpacked" in result.refused[0][1]  # CRC mismatch or more data than declared


def test_paths_escaping_the_archive_are_refused(world, photo, tmp_path):
    jpg, _ = photo
    data = zip_of([("../../evil.jpg", jpg), ("/etc/abs.jpg", jpg), ("C:/win.jpg", jpg), ("ok/fine.jpg", jpg),
                   ("inner.zip", zip_of([("x.jpg", jpg)]))])
    result = accept_upload(world.collection, [f("trav.zip", data)], world.users["lead"])
    assert [i.name for i in result.created] == ["fine.jpg"]
    reasons = dict(result.refused)
    assert "escapes the archive" in reasons["trav.zip:../../evil.jpg"]
    assert "escapes the archive" in reasons["trav.zip:/etc/abs.jpg"]
    assert "escapes the archive" in reasons["trav.zip:C:/win.jpg"]
    assert "inside the archive" in reasons["trav.zip:inner.zip"]
    for root, _dirs, files in os.walk(tmp_path):
        assert "evil.jpg" not in files and "abs.jpg" not in files
    assert all(i.original.name.startswith(f"collections/{world.collection.pk}/") for i in result.created)


def test_not_a_zip_and_symlink_member(world):
    result = accept_upload(world.collection, [f("broken.zip", b"PK\x03\x04garbage")], world.users["lead"])
    assert not result.created and "ZIP" in result.refused[0][1]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("link.jpg")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    result = accept_upload(world.collection, [f("links.zip", buf.getvalue())], world.users["lead"])
    assert not result.created and "link" in result.refused[0][1]


def test_cutout_problems_refuse_the_pair(world, photo):
    jpg, _ = photo
    wrong_size = encode_png(small_photo(80, 64)[1])
    result = accept_upload(world.collection, [f("p.jpg", jpg), f("p.cutout.png", wrong_size), f("orphan_mask.png", wrong_size)],
                           world.users["lead"])
    assert not result.created
    reasons = dict(result.refused)
    assert "120x90" in reasons["p.cutout.png"] and "cutout was refused" in reasons["p.jpg"]
    assert "without a photo" in reasons["orphan_mask.png"]


def test_existing_name_is_left_alone(world, photo):
    jpg, _ = photo
    before = snapshot(world.collection)
    result = accept_upload(world.collection, [f("ring-1.jpg", jpg)], world.users["lead"])
    assert not result.created and "already in this collection" in result.refused[0][1]
    assert snapshot(world.collection) == before


def test_upload_view_says_why_with_400(world, photo, client):
    client.force_login(world.users["lead"])
    url = f"/collections/{world.collection.pk}/upload/"
    response = client.post(url, {"files": [f("notes.jpg", b"nope" * 20)]})
    assert response.status_code == 400
    assert b"notes.jpg" in response.content and b"nothing else was changed" in response.content
    response = client.post(url, {"files": [f("v.jpg", photo[0])]}, HTTP_ACCEPT="application/json")
    assert response.status_code == 200 and response.json()["created"][0]["name"] == "v.jpg"
    client.force_login(world.users["retoucher1"])
    assert client.post(url, {"files": [f("w.jpg", photo[0])]}).status_code == 403
    assert not Image.objects.filter(name="w.jpg").exists()
