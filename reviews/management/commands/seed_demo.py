"""Demo data: a studio, its people, two client organisations and collections of synthetic
jewelry (masks.synth) with degraded "AI" cutouts, spread over the workflow states.

Demo only: the password is public, so the command refuses to run with DEBUG off. Running it
again changes nothing (everything is looked up by name first).
"""
from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from reviews.models import ClientOrg, Collection, Image, Profile, Role, State, Studio

DEMO_PASSWORD = "jewelreview"  # noqa: S105 - demo data, refused without DEBUG
STUDIO = "Demo Studio"
ORG_A, ORG_B = "Maison Aurelia", "Lumen Jewels"
DEMO_USERS = [  # (username, role label, client org)
    ("lead", "studio lead", None),
    ("retoucher1", "retoucher", None),
    ("retoucher2", "retoucher", None),
    ("client_a", f"client, {ORG_A}", ORG_A),
    ("client_b", f"client, {ORG_B}", ORG_B),
]
SIZE = (1200, 900)  # small on purpose: `make run` must start in well under a minute

# collection -> (client org, [(name, kind, backdrop, seed, target state, assignee)])
COLLECTIONS = {
    "Rings — spring": (ORG_A, [
        ("ring-01.jpg", "ring", "white", 11, State.APPROVED, "retoucher1"),
        ("ring-02.jpg", "ring", "lightgrey", 12, State.CLIENT_REVIEW, "retoucher1"),
        ("ring-03.jpg", "ring", "white", 13, State.LEAD_REVIEW, "retoucher2"),
        ("ring-04.jpg", "ring", "black", 14, State.IN_RETOUCH, "retoucher1"),
        ("ring-05.jpg", "ring", "white", 15, State.CHANGES_REQUESTED, "retoucher2"),
    ]),
    "Chains & pearls": (ORG_B, [
        ("chain-01.jpg", "chain", "white", 21, State.CLIENT_REVIEW, "retoucher2"),
        ("pearls-02.jpg", "pearls", "lightgrey", 22, State.CLIENT_REVIEW, "retoucher1"),
        ("chain-03.jpg", "chain", "black", 23, State.APPROVED, "retoucher2"),
        ("pearls-04.jpg", "pearls", "white", 24, State.IN_RETOUCH, "retoucher2"),
    ]),
    "Earrings — new arrivals": (ORG_A, [
        ("earring-01.jpg", "earring", "white", 31, State.READY_FOR_RETOUCH, None),
        ("earring-02.jpg", "earring", "lightgrey", 32, State.READY_FOR_RETOUCH, None),
        ("earring-03.jpg", "earring", "black", 33, State.IN_RETOUCH, "retoucher1"),
        ("earring-04-truncated.jpg", "earring", "white", 34, State.FAILED, None),
    ]),
}
SWATCHES = {  # (name, colour as hex or "L, a, b", tolerance ΔE2000, approved by the client)
    "Rings — spring": [("18k rose gold", "70, 14, 15", 4.0, True), ("18k yellow gold", "79, 5, 34", 4.0, False),
                       ("Platinum", "82, 0, -2", 3.0, True)],
    "Chains & pearls": [("Akoya pearl", "#ece6dc", 3.0, False)],
}
CHECKED_AGAINST = {  # which reference each demo piece is measured against
    "ring-01.jpg": "Platinum", "ring-02.jpg": "18k yellow gold", "ring-03.jpg": "18k rose gold",
    "ring-04.jpg": "Platinum", "ring-05.jpg": "18k rose gold", "pearls-02.jpg": "Akoya pearl",
    "pearls-04.jpg": "Akoya pearl",
}


class Command(BaseCommand):
    help = "Create demo users and collections of synthetic jewelry (DEBUG only; safe to run twice)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("seed_demo creates accounts with a public password; it only runs with DEBUG on")
        started = time.monotonic()
        studio, _ = Studio.objects.get_or_create(name=STUDIO)
        orgs = {name: ClientOrg.objects.get_or_create(studio=studio, name=name)[0] for name in (ORG_A, ORG_B)}
        users = {}
        for username, label, org in DEMO_USERS:
            user, created = User.objects.get_or_create(username=username, defaults={"first_name": username.replace("_", " ").title()})
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
            role = Role.LEAD if username == "lead" else Role.CLIENT if org else Role.RETOUCHER
            Profile.objects.get_or_create(user=user, defaults={"role": role, "studio": studio, "client_org": orgs.get(org)})
            users[username] = user
        made = 0
        self.age_hours = 96.0  # demo images were "uploaded" over the last days, oldest first
        for cname, (org, items) in COLLECTIONS.items():
            collection, _ = Collection.objects.get_or_create(studio=studio, name=cname, defaults={"client_org": orgs[org]})
            self._swatches(collection, users)
            for spec in items:
                if collection.images.filter(name=spec[0]).exists():
                    continue
                self._image(collection, users, *spec)
                made += 1
        self.stdout.write(f"seed_demo: {made} demo image(s) created in {time.monotonic() - started:.1f} s "
                          f"(users: {', '.join(u for u, _, _ in DEMO_USERS)}; password {DEMO_PASSWORD})")

    def _swatches(self, collection, users):
        from reviews.services import colour

        for name, hexcolour, tol, approved in SWATCHES.get(collection.name, []):
            if collection.swatches.filter(name=name).exists():
                continue
            swatch = colour.create_swatch(collection, users["lead"], name, hexcolour, tol)
            if approved:
                client = users["client_a"] if collection.client_org.name == ORG_A else users["client_b"]
                colour.approve_swatch(swatch, client)

    def _image(self, collection, users, name, kind, backdrop, seed, target, assignee):
        from masks import synth
        from masks.imageio import encode_png
        from PIL import Image as PILImage
        import io
        import numpy as np

        from reviews.services.ingest import run_ingest

        sample = synth.generate(kind, seed, size=SIZE, backdrop=backdrop)
        ai_alpha, defects = synth.degrade(sample.image, sample.alpha, seed)
        buf = io.BytesIO()
        PILImage.fromarray(sample.image).save(buf, "JPEG", quality=92)
        data = buf.getvalue()
        if target == State.FAILED:
            data = data[: len(data) // 3]  # a truncated upload: ingest says why, and it can be retried
        with transaction.atomic():
            image = Image(collection=collection, name=name, width=SIZE[0], height=SIZE[1])
            image.original.save(name, ContentFile(data), save=False)
            if target != State.FAILED:
                stem = name.rsplit(".", 1)[0]
                image.cutout_upload.save(f"{stem}.cutout.png", ContentFile(encode_png(ai_alpha)), save=False)
            image.save()
        run_ingest(image.pk)  # in-process: the demo must be complete when the server starts
        image.refresh_from_db()
        if target != State.FAILED and image.state == State.READY_FOR_RETOUCH:
            self._advance(image, users, target, assignee, defects, sample, np)
            self._measure(image, np)
        self._backdate(image)
        return image

    def _backdate(self, image):
        """Spread the demo over time so "waiting longest" and turnaround show real figures."""
        from datetime import timedelta

        from django.utils import timezone

        self.age_hours -= 6.5
        created = timezone.now() - timedelta(hours=self.age_hours + 6.5)
        image.refresh_from_db()
        changed = created + timedelta(hours=min(self.age_hours, 2 + 3 * image.head_seq))
        Image.objects.filter(pk=image.pk).update(
            created_at=created, state_changed_at=changed,
            approved_at=changed if image.state == State.APPROVED else None,
        )

    def _measure(self, image, np):
        """Measure the thickest metal of the lower half of the piece (the band, below the stone)
        against its reference swatch, as a lead would."""
        import cv2

        from reviews.services import colour, masklog

        swatch = image.collection.swatches.filter(name=CHECKED_AGAINST.get(image.name, "")).first()
        if swatch is None:
            return
        image.refresh_from_db()
        solid = (masklog.render_revision(image) >= 128).astype(np.uint8)
        ys = np.nonzero(solid.any(axis=1))[0]
        solid[: ys.min() + (ys.max() - ys.min()) // 2] = 0
        depth = cv2.distanceTransform(solid, cv2.DIST_L2, 5)
        cy, cx = np.unravel_index(int(np.argmax(depth)), depth.shape)
        r = max(int(depth[cy, cx] * 0.7), 3)  # a square well inside the metal
        try:
            colour.measure(image, swatch, (max(int(cx) - r, 0), max(int(cy) - r, 0), 2 * r, 2 * r))
        except colour.ColourError:
            pass  # a piece too thin to measure simply has no check

    def _advance(self, image, users, target, assignee, defects, sample, np):
        from reviews.services import workflow

        lead = users["lead"]
        client = users["client_a"] if image.collection.client_org.name == ORG_A else users["client_b"]
        path = {
            State.READY_FOR_RETOUCH: [],
            State.IN_RETOUCH: ["assign"],
            State.LEAD_REVIEW: ["assign", "edit", "submit"],
            State.CLIENT_REVIEW: ["assign", "edit", "submit", "send_to_client"],
            State.APPROVED: ["assign", "edit", "submit", "send_to_client", "approve"],
            State.CHANGES_REQUESTED: ["assign", "edit", "submit", "send_to_client", "request_changes"],
        }[target]
        for step in path:
            image.refresh_from_db()
            if step == "edit":
                self._edit(image, users[assignee], defects, sample.alpha, np)
            elif step == "assign":
                workflow.transition(image, lead, "assign", assignee=users[assignee])
            elif step == "submit":
                workflow.transition(image, users[assignee], "submit")
            elif step == "send_to_client":
                workflow.transition(image, lead, "send_to_client")
            elif step == "approve":
                workflow.transition(image, client, "approve")
            elif step == "request_changes":
                workflow.transition(image, client, "request_changes",
                                    reason="The prong at the top is clipped and the inside of the band still shows the backdrop.")

    def _edit(self, image, author, defects, gt_alpha, np):
        """Fix two planted failures the way a retoucher would: a traced path over each defect,
        added where the AI lost the object, subtracted where it kept the backdrop."""
        from masks.trace import trace

        from reviews.services import masklog

        for i, defect in enumerate(defects[:2]):
            x, y, w, h = defect.bbox
            add = defect.kind not in ("trapped_background", "halo")
            region = np.zeros_like(gt_alpha)
            box = gt_alpha[y:y + h, x:x + w]
            region[y:y + h, x:x + w] = np.where(box >= 128, 255, 0) if add else np.where(box < 128, 255, 0)
            d = trace(region, tolerance=1.0)
            if not d:
                continue
            masklog.append(image.pk, author, "op", {"type": "path", "d": d, "mode": "add" if add else "subtract",
                                                    "fill_rule": "evenodd", "feather": 0.0},
                           client_id=f"seed-{image.pk}-{i}")
