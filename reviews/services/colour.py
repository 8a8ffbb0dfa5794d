"""Colour references: swatches (Lab or hex, ΔE2000 tolerance), client approval, and the
measured colour of an image's marked region against a swatch."""
from __future__ import annotations

import math

from django.utils import timezone

from masks.errors import MaskError
from reviews.models import ColourCheck, Image, Swatch
from reviews.services import storage, workflow


class ColourError(ValueError):
    """Bad colour input; the message says which field."""


def parse_colour(value: str) -> tuple[float, float, float]:
    """"#b76e79" or "L,a,b" (e.g. "62.1, 24.0, 12.5") → Lab (L 0–100, a/b −128–127)."""
    from masks.color import hex_to_lab

    value = (value or "").strip()
    if not value:
        raise ColourError("give the colour as #rrggbb or as L, a, b")
    if value.startswith("#") or (len(value) in (3, 6) and all(c in "0123456789abcdefABCDEF" for c in value)):
        try:
            lab = hex_to_lab(value)
        except MaskError as exc:
            raise ColourError(str(exc)) from exc
        return tuple(float(v) for v in lab)
    parts = [p for p in value.replace(";", ",").replace(" ", ",").split(",") if p]
    try:
        lab = tuple(float(p) for p in parts)
    except ValueError:
        raise ColourError(f"{value!r} is neither #rrggbb nor three numbers L, a, b") from None
    if len(lab) != 3 or not all(math.isfinite(v) for v in lab):
        raise ColourError("Lab needs three finite numbers: L, a, b")
    if not 0 <= lab[0] <= 100 or not all(-128 <= v <= 127 for v in lab[1:]):
        raise ColourError("L must be 0–100 and a, b between −128 and 127")
    return lab


def parse_tolerance(value) -> float:
    try:
        tol = float(value)
    except (TypeError, ValueError):
        raise ColourError("the tolerance is a number (ΔE2000)") from None
    if not math.isfinite(tol) or not 0 < tol <= 50:
        raise ColourError("the tolerance must be between 0 and 50 ΔE2000")
    return tol


def create_swatch(collection, user, name: str, colour: str = "", tolerance=2.0, reference=None, rect=None) -> Swatch:
    """A swatch from a colour (#rrggbb or L, a, b) or, when ``colour`` is empty, measured from
    ``rect`` (x, y, w, h px) of the ``reference`` image of the same collection (object pixels only)."""
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise ColourError("a swatch needs a name of at most 120 characters")
    if collection.swatches.filter(name=name).exists():
        raise ColourError(f"this collection already has a swatch named {name!r}")
    region = None
    if (colour or "").strip():
        lab = parse_colour(colour)
    elif reference is not None:
        if reference.collection_id != collection.pk or not reference.base_alpha:
            raise ColourError("the reference photo must be an ingested image of this collection")
        region = parse_rect(rect or (), reference)
        lab = _measured_lab(reference, region)
    else:
        raise ColourError("give the colour as #rrggbb or L, a, b — or mark a region of a reference photo")
    swatch = Swatch.objects.create(
        collection=collection, name=name, lab_l=lab[0], lab_a=lab[1], lab_b=lab[2], tolerance=parse_tolerance(tolerance),
        reference_image=reference if region else None,
        **(dict(zip(("ref_x", "ref_y", "ref_w", "ref_h"), region)) if region else {}),
    )
    workflow.audit("swatch_created", studio_id=collection.studio_id, actor=user, collection_id=collection.pk,
                   swatch=name, lab=[round(v, 3) for v in lab], tolerance=swatch.tolerance,
                   reference=reference.name if region else None)
    return swatch


def _measured_lab(image: Image, rect) -> tuple[float, float, float]:
    from masks.color import measure_region
    from masks.imageio import decode_png

    from reviews.services.masklog import render_revision

    rgb = decode_png(storage.read_bytes(f"{image.folder}/srgb.png"))
    try:
        lab = measure_region(rgb, render_revision(image), rect)
    except MaskError as exc:
        raise ColourError(str(exc)) from exc
    return tuple(float(v) for v in lab)


def approve_swatch(swatch: Swatch, user) -> Swatch:
    now = timezone.now()
    Swatch.objects.filter(pk=swatch.pk).update(approved_by=user, approved_at=now)
    workflow.audit("swatch_approved", studio_id=swatch.collection.studio_id, actor=user,
                   collection_id=swatch.collection_id, swatch=swatch.name)
    swatch.refresh_from_db()
    return swatch


def parse_rect(values, image: Image) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(float(v)) for v in values)
    except (TypeError, ValueError):
        raise ColourError("the region is four whole numbers x, y, width, height (pixels)") from None
    if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > image.width or y + h > image.height:
        raise ColourError(f"the region must lie inside the {image.width}x{image.height} image")
    return x, y, w, h


def measure(image: Image, swatch: Swatch, rect, user=None) -> ColourCheck:
    """Measure ``rect`` of the image (object pixels of the head revision's mask) against the swatch."""
    from masks.color import swatch_check
    from masks.imageio import decode_png

    from reviews.services.masklog import render_revision

    x, y, w, h = parse_rect(rect, image)
    rgb = decode_png(storage.read_bytes(f"{image.folder}/srgb.png"))
    alpha = render_revision(image)  # the head revision: what the client is being asked about
    try:
        result = swatch_check(rgb, alpha, (x, y, w, h), swatch.lab, swatch.tolerance)
    except MaskError as exc:
        raise ColourError(str(exc)) from exc
    lab = [float(v) for v in result.measured_lab]
    check, _ = ColourCheck.objects.update_or_create(
        image=image, swatch=swatch,
        defaults=dict(x=x, y=y, w=w, h=h, measured_l=lab[0], measured_a=lab[1], measured_b=lab[2],
                      delta_e=float(result.delta_e), passed=bool(result.passed), seq=image.head_seq,
                      measured_at=timezone.now()),
    )
    workflow.audit("colour_measured", studio_id=image.collection.studio_id, actor=user, image=image,
                   seq=image.head_seq, swatch=swatch.name, delta_e=round(float(result.delta_e), 3),
                   passed=bool(result.passed))
    return check
