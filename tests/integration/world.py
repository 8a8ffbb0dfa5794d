"""``python -m tests.integration.world``: people and a collection for the end-to-end test, in the
database named by DATABASE_URL. Prints their ids as JSON."""
import json
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jewelreview.settings")
django.setup()

from django.contrib.auth.models import User  # noqa: E402

from reviews.models import ClientOrg, Collection, Profile, Role, Studio  # noqa: E402

PASSWORD = "integration-pw"

studio = Studio.objects.create(name="Integration studio")
org = ClientOrg.objects.create(studio=studio, name="Integration client")
ids = {}
for name, role in (("lead", Role.LEAD), ("retoucher", Role.RETOUCHER), ("client", Role.CLIENT)):
    user = User.objects.create_user(name, password=PASSWORD)
    Profile.objects.create(user=user, role=role, studio=studio, client_org=org if role == Role.CLIENT else None)
    ids[name] = user.pk
collection = Collection.objects.create(studio=studio, client_org=org, name="Spring", export_background="#203040")
print(json.dumps({"users": ids, "collection": collection.pk, "password": PASSWORD}))
