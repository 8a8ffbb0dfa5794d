"""JewelReview data model.

An image's mask is ``base_alpha`` (the AI or imported cutout, a PNG) plus its ordered
``Operation`` log; a revision is a sequence number (0 = the base alone). Collection state is
derived from its images, never stored.
"""
from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone


class Role(models.TextChoices):
    LEAD = "lead", "Studio lead"
    RETOUCHER = "retoucher", "Retoucher"
    CLIENT = "client", "Client"


class State(models.TextChoices):
    NEW = "new", "New"
    PROCESSING = "processing", "Processing"
    FAILED = "failed", "Ingest failed"
    READY_FOR_RETOUCH = "ready_for_retouch", "Ready for retouch"
    IN_RETOUCH = "in_retouch", "In retouch"
    LEAD_REVIEW = "lead_review", "Lead review"
    CLIENT_REVIEW = "client_review", "Client review"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    APPROVED = "approved", "Approved"


# Order used when showing counts and deriving a collection's state (earliest stage wins).
STATE_ORDER = [s.value for s in State]


class Studio(models.Model):
    name = models.CharField(max_length=200, unique=True)

    def __str__(self) -> str:
        return self.name


class ClientOrg(models.Model):
    studio = models.ForeignKey(Studio, on_delete=models.CASCADE, related_name="client_orgs")
    name = models.CharField(max_length=200)

    class Meta:
        unique_together = [("studio", "name")]

    def __str__(self) -> str:
        return self.name


class Profile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    role = models.CharField(max_length=16, choices=Role.choices)
    studio = models.ForeignKey(Studio, on_delete=models.CASCADE, related_name="profiles")
    client_org = models.ForeignKey(ClientOrg, null=True, blank=True, on_delete=models.CASCADE, related_name="profiles")

    def clean(self) -> None:
        if self.role == Role.CLIENT and self.client_org_id is None:
            raise ValidationError("a client user belongs to a client organisation")
        if self.role != Role.CLIENT and self.client_org_id is not None:
            raise ValidationError("only client users belong to a client organisation")
        if self.client_org_id and self.client_org.studio_id != self.studio_id:
            raise ValidationError("the client organisation belongs to another studio")

    def __str__(self) -> str:
        return f"{self.user} ({self.role})"


class Collection(models.Model):
    studio = models.ForeignKey(Studio, on_delete=models.CASCADE, related_name="collections")
    client_org = models.ForeignKey(ClientOrg, on_delete=models.PROTECT, related_name="collections")
    name = models.CharField(max_length=200)
    # background for the JPEG/TIFF exports, "#rrggbb"
    export_background = models.CharField(max_length=7, default="#ffffff")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "id"]

    def __str__(self) -> str:
        return self.name

    def state_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATE_ORDER, 0)
        for row in self.images.values("state").annotate(n=models.Count("id")):
            counts[row["state"]] = row["n"]
        return counts

    @property
    def state(self) -> str:
        """Derived: "empty", "approved" when every image is, else the earliest stage any image is in."""
        return derive_collection_state(self.state_counts())


def derive_collection_state(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    if total == 0:
        return "empty"
    if counts.get(State.APPROVED, 0) == total:
        return State.APPROVED
    for state in STATE_ORDER:
        if counts.get(state):
            return state
    return "empty"  # pragma: no cover - counts always name a known state


def original_upload_to(instance: "Image", filename: str) -> str:
    return f"collections/{instance.collection_id}/originals/{filename}"


def cutout_upload_to(instance: "Image", filename: str) -> str:
    return f"collections/{instance.collection_id}/cutouts/{filename}"


class Image(models.Model):
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="images")
    name = models.CharField(max_length=255)
    state = models.CharField(max_length=20, choices=State.choices, default=State.NEW, db_index=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_images"
    )
    width = models.PositiveIntegerField(default=0)  # pixels
    height = models.PositiveIntegerField(default=0)  # pixels
    original = models.FileField(upload_to=original_upload_to, max_length=500)
    # an uploaded cutout (PNG alpha, grey mask, or file with a clipping path), if one came
    cutout_upload = models.FileField(upload_to=cutout_upload_to, max_length=500, blank=True)
    base_alpha = models.FileField(max_length=500, blank=True)  # PNG, 0-255 alpha, the revision-0 mask
    base_source = models.CharField(max_length=20, blank=True)  # "upload" | "segment" (who made base_alpha)
    ai_path = models.TextField(blank=True)  # traced SVG path data (evenodd) of base_alpha
    head_seq = models.PositiveIntegerField(default=0)  # last assigned sequence number, 0 = no edits
    tiles_prefix = models.CharField(max_length=500, blank=True)  # media-relative folder of DZI pyramids
    error = models.TextField(blank=True)  # why ingest failed, for the person who can retry
    ingest_attempts = models.PositiveIntegerField(default=0)
    ingest_step = models.CharField(max_length=40, blank=True)  # what ingest is doing now, for progress
    change_reason = models.TextField(blank=True)  # last "changes requested" reason
    sent_to_client_at = models.DateTimeField(null=True, blank=True)  # clients see it from then on
    ingested_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    state_changed_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["collection_id", "name", "id"]
        unique_together = [("collection", "name")]

    def __str__(self) -> str:
        return self.name

    @property
    def folder(self) -> str:
        """Media-relative folder for everything derived from this image."""
        return f"collections/{self.collection_id}/images/{self.pk}"

    @property
    def current_approval(self) -> "Approval | None":
        return self.approvals.filter(revoked=False).order_by("-created_at", "-id").first()


class Export(models.Model):
    """A ZIP of a collection's approved revisions (PNG, JPEG, TIFF, SVG + manifest.csv)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="exports")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    background = models.CharField(max_length=7, default="#ffffff")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    file = models.FileField(max_length=500, blank=True)
    image_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]


class OpKind(models.TextChoices):
    OP = "op", "Operation"
    UNDO = "undo", "Undo"
    REDO = "redo", "Redo"


class Operation(models.Model):
    """One entry of an image's edit log. Never updated or deleted; undo is a new entry."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="operations")
    seq = models.PositiveIntegerField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="operations")
    client_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=8, choices=OpKind.choices)
    payload = models.JSONField()  # wire op (kind "op") or {"target": seq} (undo/redo)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["image_id", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["image", "seq"], name="operation_unique_seq"),
            models.UniqueConstraint(fields=["image", "author", "client_id"], name="operation_unique_client_id"),
        ]

    def __str__(self) -> str:
        return f"{self.image_id}#{self.seq} {self.kind}"


class Comment(models.Model):
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="comments")
    x = models.FloatField()  # image pixels
    y = models.FloatField()  # image pixels
    seq = models.PositiveIntegerField(default=0)  # revision the comment was made on
    body = models.TextField(max_length=5000)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies")
    resolved = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]


class Approval(models.Model):
    """Who approved which revision when. Stale once the mask has a later edit."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="approvals")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="approvals")
    seq = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    revoked = models.BooleanField(default=False)  # set when changes are requested afterwards

    class Meta:
        ordering = ["-created_at", "-id"]

    @property
    def stale(self) -> bool:
        return self.image.head_seq > self.seq


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):  # noqa: D102
        raise PermissionError("the audit log is append-only")

    def delete(self):  # noqa: D102
        raise PermissionError("the audit log is append-only")


class AuditEvent(models.Model):
    """Append-only: the model, its queryset and (by migration) database triggers refuse change."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=40)
    studio = models.ForeignKey(Studio, on_delete=models.PROTECT, related_name="+")
    collection = models.ForeignKey(Collection, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    image = models.ForeignKey(Image, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20, blank=True)
    seq = models.PositiveIntegerField(null=True)
    detail = models.JSONField(default=dict)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("the audit log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("the audit log is append-only")


class Swatch(models.Model):
    """A colour reference, e.g. "18k rose gold": CIELAB (D65) and a ΔE2000 tolerance."""

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="swatches")
    name = models.CharField(max_length=120)
    lab_l = models.FloatField()  # 0-100
    lab_a = models.FloatField()  # about -128..127
    lab_b = models.FloatField()
    tolerance = models.FloatField(default=2.0)  # ΔE2000
    reference_image = models.ForeignKey(Image, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    ref_x = models.PositiveIntegerField(null=True, blank=True)  # optional region of the reference photo, px
    ref_y = models.PositiveIntegerField(null=True, blank=True)
    ref_w = models.PositiveIntegerField(null=True, blank=True)
    ref_h = models.PositiveIntegerField(null=True, blank=True)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        unique_together = [("collection", "name")]

    @property
    def lab(self) -> tuple[float, float, float]:
        return (self.lab_l, self.lab_a, self.lab_b)

    @property
    def hex(self) -> str:
        """The swatch as "#rrggbb" for display (clipped to the sRGB gamut)."""
        return lab_hex(self.lab)


def lab_hex(lab) -> str:
    from masks.color import lab_to_srgb

    r, g, b = (int(round(float(v) * 255)) for v in lab_to_srgb(lab))
    return f"#{r:02x}{g:02x}{b:02x}"


class ColourCheck(models.Model):
    """The marked region of an image measured against a swatch (latest measurement kept)."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="colour_checks")
    swatch = models.ForeignKey(Swatch, on_delete=models.CASCADE, related_name="checks")
    x = models.PositiveIntegerField()  # region in image pixels
    y = models.PositiveIntegerField()
    w = models.PositiveIntegerField()
    h = models.PositiveIntegerField()
    measured_l = models.FloatField(null=True)
    measured_a = models.FloatField(null=True)
    measured_b = models.FloatField(null=True)
    delta_e = models.FloatField(null=True)  # ΔE2000 to the swatch
    passed = models.BooleanField(null=True)
    seq = models.PositiveIntegerField(default=0)  # revision of the mask it was measured on
    measured_at = models.DateTimeField(null=True)

    class Meta:
        unique_together = [("image", "swatch")]

    @property
    def measured_hex(self) -> str:
        return lab_hex((self.measured_l, self.measured_a, self.measured_b)) if self.measured_l is not None else ""


class QAFinding(models.Model):
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="findings")
    kind = models.CharField(max_length=40)
    x = models.IntegerField()  # bbox, image pixels
    y = models.IntegerField()
    w = models.IntegerField()
    h = models.IntegerField()
    severity = models.FloatField()  # 0-1
    area_px = models.IntegerField()
    message = models.TextField()
    resolved = models.BooleanField(default=False)

    class Meta:
        ordering = ["-severity", "id"]
