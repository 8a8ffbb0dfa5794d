"""Print where the app listens and the demo log-ins (called by `make run` before daphne starts)."""
from django.conf import settings
from django.core.management.base import BaseCommand

from reviews.management.commands.seed_demo import DEMO_PASSWORD, DEMO_USERS


class Command(BaseCommand):
    help = "Print the address to open and the demo log-ins."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")

    def handle(self, *args, host, port, **options):
        shown = "localhost" if host in ("0.0.0.0", "::") else host
        url = f"http://{shown}:{port}/"
        width = 64
        lines = [
            "JewelReview is starting",
            f"Open {url}",
            "",
            f"Demo log-ins (password for all: {DEMO_PASSWORD}):",
            *(f"  {name:<11} {role}" for name, role, _ in DEMO_USERS),
            "",
            "Database: " + settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
            + " · channel layer: " + settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[-1]
            + " · Celery: " + ("eager (in-process)" if settings.CELERY_TASK_ALWAYS_EAGER else "workers"),
        ]
        bar = "=" * width
        self.stdout.write(bar)
        for line in lines:
            self.stdout.write(line)
        self.stdout.write(bar)
