from django import template

register = template.Library()


@register.filter
def get(mapping, key):
    """{{ dict|get:key }}"""
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def state_label(value):
    """"in_retouch" → "In retouch" (collection states such as "empty" pass through)."""
    from reviews.models import State

    try:
        return State(value).label
    except ValueError:
        return str(value).replace("_", " ").capitalize()


ACTION_LABELS = {
    "submit": "Submit for lead review",
    "send_to_client": "Send to client",
    "approve": "Approve this revision",
    "request_changes": "Request changes",
    "send_back": "Send back to retouch",
    "retry_ingest": "Retry ingest",
    "assign": "Assign",
}


@register.filter
def action_label(action):
    return ACTION_LABELS.get(action, str(action).replace("_", " ").capitalize())


@register.filter
def open_url(image):
    """The editor of ``image`` when it is installed, else its detail page."""
    from django.urls import reverse

    from reviews.views import editor_url

    return editor_url(image) or reverse("image_detail", args=[image.pk])
