"""Uploads and ingest.

``accept_upload`` takes many files or one ZIP (photos, optionally with cutouts made elsewhere:
``<stem>.cutout.png`` / ``<stem>_mask.png`` / ``<stem>-cutout.tif`` … next to ``<stem>.jpg``). Every
file is checked before anything is stored (archive guards, then ``masks.imageio`` decodes it);
a refused file gets a reason and changes nothing; the accepted ones become ``Image`` rows in
state "new" and one Celery ingest task each.

``run_ingest(image_id)`` is the task body: validate + sRGB, base alpha (uploaded cutout, the
photo's own alpha or clipping path, else the first-pass segmenter), tiles, traced path, QA
findings. Failure marks only that image "failed" with the reason; it can be retried.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction

from masks.errors import ImageInputError, MaskError
from reviews.models import Image, QAFinding, State
from reviews.services import storage, workflow

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".psd", ".webp"}
CUTOUT_SUFFIX = re.compile(r"^(?P<stem>.+?)[._-](?:cutout|mask|alpha)$", re.IGNORECASE)
SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")
ZIP_MAGIC = b"PK\x03\x04"


def limits() -> dict:
    return settings.JEWELREVIEW


def _fmt_bytes(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)  # pragma: no cover


@dataclass
class Candidate:
    name: str  # display name as uploaded (path inside a ZIP included)
    data: bytes


@dataclass
class UploadResult:
    created: list[Image] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (file name, why)


def safe_basename(name: str) -> str:
    base = re.split(r"[\\/]", name)[-1]
    base = SAFE_NAME.sub("_", base).strip(" .") or "image"
    return base[-200:]


def _unsafe_member(name: str) -> bool:
    if "\x00" in name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return True
    return any(part == ".." for part in re.split(r"[\\/]", name))


def _ignored_member(name: str) -> bool:
    parts = re.split(r"[\\/]", name)
    return parts[0] == "__MACOSX" or parts[-1].startswith(".") or parts[-1] in {"Thumbs.db", "desktop.ini"}


def read_zip(fileobj, result: UploadResult, label: str) -> list[Candidate]:
    """The members of a ZIP worth ingesting, with every archive guard applied.

    Whole archive refused: not a ZIP, too many members, declares more than MAX_ZIP_TOTAL_BYTES.
    One member refused: path escaping the archive, link, encrypted, nested archive, bigger than
    MAX_FILE_BYTES, compression ratio above MAX_ZIP_RATIO (a ZIP bomb), more data than declared.
    """
    lim = limits()
    try:
        zf = zipfile.ZipFile(fileobj)
        infos = [i for i in zf.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        result.refused.append((label, f"not a readable ZIP archive ({exc})"))
        return []
    if len(infos) > lim["MAX_ZIP_MEMBERS"]:
        result.refused.append((label, f"the archive has {len(infos)} files; at most {lim['MAX_ZIP_MEMBERS']} are accepted"))
        return []
    declared = sum(i.file_size for i in infos)
    if declared > lim["MAX_ZIP_TOTAL_BYTES"]:
        result.refused.append((label, f"the archive would unpack to {_fmt_bytes(declared)}; the limit is "
                                      f"{_fmt_bytes(lim['MAX_ZIP_TOTAL_BYTES'])} (ZIP bomb?)"))
        return []
    out: list[Candidate] = []
    total = 0
    for info in infos:
        name = info.filename
        shown = f"{label}:{name}"
        if _ignored_member(name):
            continue
        if _unsafe_member(name):
            result.refused.append((shown, "the path escapes the archive (absolute or '..'); not unpacked"))
            continue
        if (info.external_attr >> 16) & 0o170000 == 0o120000:
            result.refused.append((shown, "symbolic links are not unpacked"))
            continue
        if info.flag_bits & 0x1:
            result.refused.append((shown, "encrypted files cannot be read"))
            continue
        if name.lower().endswith((".zip", ".rar", ".7z", ".tar", ".gz")):
            result.refused.append((shown, "archives inside the archive are not unpacked"))
            continue
        if info.file_size > lim["MAX_FILE_BYTES"]:
            result.refused.append((shown, f"{_fmt_bytes(info.file_size)} is larger than the "
                                          f"{_fmt_bytes(lim['MAX_FILE_BYTES'])} limit per file"))
            continue
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > 1 << 20 and ratio > lim["MAX_ZIP_RATIO"]:
            result.refused.append((shown, f"compressed {ratio:.0f}:1, more than {lim['MAX_ZIP_RATIO']}:1 "
                                          "(looks like a ZIP bomb); not unpacked"))
            continue
        try:
            with zf.open(info) as fh:
                data = fh.read(info.file_size + 1)  # never more than the header promised, +1 to catch lies
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            result.refused.append((shown, f"could not be unpacked ({exc})"))
            continue
        if len(data) > info.file_size:
            result.refused.append((shown, "holds more data than its header declares (ZIP bomb?); not unpacked"))
            continue
        total += len(data)
        if total > lim["MAX_ZIP_TOTAL_BYTES"]:
            result.refused.append((shown, "the archive unpacks to more than the limit; the rest is not unpacked"))
            break
        out.append(Candidate(name=name, data=data))
    return out


def _candidates(files, result: UploadResult) -> list[Candidate]:
    lim = limits()
    out: list[Candidate] = []
    if len(files) > lim["MAX_UPLOAD_FILES"]:
        result.refused.append(("(upload)", f"{len(files)} files; at most {lim['MAX_UPLOAD_FILES']} per upload"))
        return out
    for f in files:
        label = getattr(f, "name", None) or "file"
        size = getattr(f, "size", None)
        if size is not None and size > lim["MAX_FILE_BYTES"]:
            result.refused.append((label, f"{_fmt_bytes(size)} is larger than the {_fmt_bytes(lim['MAX_FILE_BYTES'])} limit per file"))
            continue
        head = f.read(4)
        f.seek(0)
        if head == ZIP_MAGIC or label.lower().endswith(".zip"):
            out.extend(read_zip(f, result, label))
            continue
        data = f.read(lim["MAX_FILE_BYTES"] + 1)
        if len(data) > lim["MAX_FILE_BYTES"]:
            result.refused.append((label, f"larger than the {_fmt_bytes(lim['MAX_FILE_BYTES'])} limit per file"))
            continue
        out.append(Candidate(name=label, data=data))
    return out


def _split_stem(name: str) -> tuple[str, str, bool]:
    """(stem, extension, is_cutout) of a file name."""
    base = safe_basename(name)
    stem, ext = os.path.splitext(base)
    m = CUTOUT_SUFFIX.match(stem)
    if m:
        return m.group("stem"), ext.lower(), True
    return stem, ext.lower(), False


def accept_upload(collection, files, user) -> UploadResult:
    """Check every uploaded file, store the good ones as new images and queue their ingest.

    ``files``: file objects with ``name`` (Django UploadedFile or open files). Returns what was
    created and what was refused with why. Existing images of the collection are never changed.
    """
    from masks.imageio import load_image, load_mask

    result = UploadResult()
    candidates = _candidates(files, result)
    photos: dict[str, Candidate] = {}
    cutouts: dict[str, Candidate] = {}
    for c in candidates:
        stem, ext, is_cutout = _split_stem(c.name)
        if ext not in IMAGE_EXTENSIONS:
            result.refused.append((c.name, f"'{ext or 'no extension'}' is not an image type we read "
                                           f"({', '.join(sorted(IMAGE_EXTENSIONS))})"))
            continue
        target = cutouts if is_cutout else photos
        if stem.lower() in target:
            result.refused.append((c.name, f"a second file for '{stem}' in the same upload"))
            continue
        target[stem.lower()] = c
    existing = {n.lower() for n in collection.images.values_list("name", flat=True)}
    max_pixels = limits()["MAX_PIXELS"]
    accepted: list[tuple[str, Candidate, Candidate | None, tuple[int, int]]] = []
    for key, photo in photos.items():
        name = safe_basename(photo.name)
        cutout = cutouts.pop(key, None)
        if name.lower() in existing:
            result.refused.append((photo.name, f"'{name}' is already in this collection; it was left as it is"))
            continue
        try:
            loaded = load_image(photo.data, max_pixels=max_pixels)
        except MaskError as exc:
            result.refused.append((photo.name, str(exc)))
            if cutout:
                result.refused.append((cutout.name, "its photo was refused"))
            continue
        size = (loaded.width, loaded.height)
        del loaded
        if cutout is not None:
            try:
                load_mask(cutout.data, size=size, max_pixels=max_pixels)
            except MaskError as exc:
                result.refused.append((cutout.name, f"cutout refused: {exc}"))
                result.refused.append((photo.name, "not added because its cutout was refused"))
                continue
        accepted.append((name, photo, cutout, size))
    for key, cutout in cutouts.items():
        result.refused.append((cutout.name, f"a cutout without a photo named '{key}.*' in this upload"))
    if not accepted:
        return result
    with transaction.atomic():
        for name, photo, cutout, (w, h) in accepted:
            image = Image(collection=collection, name=name, state=State.NEW, width=w, height=h)
            image.original.save(name, ContentFile(photo.data), save=False)
            if cutout is not None:
                image.cutout_upload.save(safe_basename(cutout.name), ContentFile(cutout.data), save=False)
            image.save()
            result.created.append(image)
        workflow.audit("uploaded", studio_id=collection.studio_id, actor=user, collection_id=collection.pk,
                       images=[i.name for i in result.created], refused=[n for n, _ in result.refused])
        enqueue_ingest([i.pk for i in result.created])
    return result


def enqueue_ingest(image_ids) -> None:
    """Queue one ingest task per image once the current transaction commits (see background)."""
    from reviews import tasks
    from reviews.services.background import dispatch_on_commit

    dispatch_on_commit(tasks.ingest_image, *[(i,) for i in image_ids])


# ---------------------------------------------------------------- the ingest task body

_SEGMENTER = None


def _segmenter():
    global _SEGMENTER
    if _SEGMENTER is None:
        from masks.segment import make_segmenter

        _SEGMENTER = make_segmenter(model_path=limits().get("SEGMENT_MODEL"))
    return _SEGMENTER


def _step(image_id: int, step: str) -> None:
    Image.objects.filter(pk=image_id, state=State.PROCESSING).update(ingest_step=step)


def _base_alpha(image: Image, loaded) -> tuple[np.ndarray, str]:
    from masks.imageio import load_mask

    size = (loaded.width, loaded.height)
    max_pixels = limits()["MAX_PIXELS"]
    if image.cutout_upload:
        return load_mask(storage.read_bytes(image.cutout_upload.name), size=size, max_pixels=max_pixels), "upload"
    if loaded.alpha is not None and int(loaded.alpha.min()) < 255:
        return loaded.alpha, "upload"  # the photo came already cut out
    if loaded.format in ("TIFF", "JPEG", "MPO", "PSD"):
        from masks.clippath import read_paths

        try:
            has_path = bool(read_paths(storage.read_bytes(image.original.name)))
        except MaskError:
            has_path = False
        if has_path:  # the photo carries a clipping path made elsewhere
            return load_mask(storage.read_bytes(image.original.name), size=size, max_pixels=max_pixels), "upload"
    return _segmenter().segment(loaded.rgb), "segment"


def build_tiles(image: Image, rgb: np.ndarray, alpha: np.ndarray) -> str:
    """DZI pyramids "original" (JPEG) and "cutout" (RGBA PNG) under <folder>/tiles; returns that prefix."""
    from masks.tiles import build_pyramid, publish_pyramids

    prefix = f"{image.folder}/tiles"
    layers = {"original": (rgb, "jpeg"), "cutout": (np.dstack([rgb, alpha]), "png")}
    local = storage.local_path(prefix)
    if local is not None:
        # Built beside the destination (same file system) and swapped in at once, so a viewer
        # never sees half a pyramid or a mix of two ingests.
        publish_pyramids(local, layers)
        return prefix
    work = tempfile.mkdtemp(prefix="jr-tiles-")
    try:
        for name, (array, fmt) in layers.items():
            build_pyramid(array, work, name, fmt=fmt)
        for root, _dirs, names in os.walk(work):
            for n in names:
                full = os.path.join(root, n)
                rel = os.path.relpath(full, work).replace(os.sep, "/")
                with open(full, "rb") as fh:
                    storage.write_bytes(f"{prefix}/{rel}", fh.read())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return prefix


def run_ingest(image_id: int) -> str:
    """Ingest one image; returns its resulting state. Safe to run twice (idempotent outputs)."""
    from masks.imageio import encode_png, load_image
    from masks.qa import analyse
    from masks.trace import trace

    if not workflow.claim_for_ingest(image_id):
        return Image.objects.filter(pk=image_id).values_list("state", flat=True).first() or "missing"
    image = Image.objects.select_related("collection").get(pk=image_id)
    try:
        _step(image_id, "reading")
        loaded = load_image(storage.read_bytes(image.original.name), max_pixels=limits()["MAX_PIXELS"])
        rgb = loaded.rgb
        storage.write_bytes(f"{image.folder}/srgb.png", encode_png(rgb))
        _step(image_id, "first pass" if not image.cutout_upload else "reading cutout")
        alpha, source = _base_alpha(image, loaded)
        if alpha.shape != rgb.shape[:2]:
            raise ImageInputError(f"the cutout is {alpha.shape[1]}x{alpha.shape[0]} but the photo is {rgb.shape[1]}x{rgb.shape[0]}")
        # a new name per attempt: caches keyed by name never serve a previous attempt's mask
        base_name = storage.write_bytes(f"{image.folder}/base_alpha-{image.ingest_attempts}.png", encode_png(alpha))
        _step(image_id, "tiles")
        prefix = build_tiles(image, rgb, alpha)
        _step(image_id, "tracing path")
        path_d = trace(alpha, tolerance=1.0)
        _step(image_id, "QA")
        report = analyse(rgb, alpha)
        storage.write_bytes(f"{image.folder}/qa_heatmap.png", encode_png(report.heatmap))
        with transaction.atomic():
            QAFinding.objects.filter(image_id=image_id).delete()
            QAFinding.objects.bulk_create([
                QAFinding(image_id=image_id, kind=f.kind, x=int(f.bbox[0]), y=int(f.bbox[1]), w=int(f.bbox[2]),
                          h=int(f.bbox[3]), severity=float(f.severity), area_px=int(f.area_px), message=f.message)
                for f in report.findings
            ])
            workflow.finish_ingest(
                image_id, width=rgb.shape[1], height=rgb.shape[0], base_alpha=base_name, base_source=source,
                ai_path=path_d, tiles_prefix=prefix,
            )
        return State.READY_FOR_RETOUCH
    except MaskError as exc:
        workflow.fail_ingest(image_id, str(exc))
        return State.FAILED
    except MemoryError:
        workflow.fail_ingest(image_id, "the image is too large to process on this server")
        return State.FAILED
    except Exception as exc:  # noqa: BLE001 - one bad image must not stop the others
        log.exception("ingest of image %s failed", image_id)
        workflow.fail_ingest(image_id, f"internal error while processing ({type(exc).__name__}: {exc})")
        return State.FAILED
