"""Celery tasks. acks_late (a worker that dies leaves the task for another) and idempotent:
running one twice leaves the same result, so redelivery is harmless."""
from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, reject_on_worker_lost=True, name="reviews.ingest_image")
def ingest_image(image_id: int) -> str:
    from reviews.services.ingest import run_ingest

    return run_ingest(image_id)


@shared_task(acks_late=True, reject_on_worker_lost=True, name="reviews.build_export")
def build_export(export_id: int) -> str:
    from reviews.services.exports import run_export

    return run_export(export_id)


@shared_task(acks_late=True, name="reviews.render_full")
def render_full(image_id: int, seq: int) -> int:
    """Render and cache the full mask of one revision (after the dirty rect went out)."""
    from reviews.models import Image
    from reviews.services.masklog import render_revision

    image = Image.objects.filter(pk=image_id).first()
    if image is None or seq > image.head_seq:
        return 0
    render_revision(image, seq)
    return seq
