"""Django admin for staff. The audit log and the edit log are read-only here as everywhere."""
from django.contrib import admin

from reviews import models


@admin.register(models.Studio, models.ClientOrg)
class PlainAdmin(admin.ModelAdmin):
    pass


@admin.register(models.Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "role", "studio", "client_org")
    list_filter = ("role", "studio")


@admin.register(models.Collection)
class CollectionAdmin(admin.ModelAdmin):
    list_display = ("name", "studio", "client_org", "created_at")


@admin.register(models.Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ("name", "collection", "state", "assignee", "head_seq", "updated_at")
    list_filter = ("state",)
    # state moves only through reviews.services.workflow (policy + audit), never by hand
    readonly_fields = ("state", "head_seq", "base_alpha", "ai_path", "tiles_prefix", "sent_to_client_at", "approved_at")


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor", "action", "image", "from_state", "to_state", "seq")
    list_filter = ("action",)


@admin.register(models.Operation)
class OperationAdmin(ReadOnlyAdmin):
    list_display = ("image", "seq", "author", "kind", "created_at")


@admin.register(models.Approval)
class ApprovalAdmin(ReadOnlyAdmin):
    list_display = ("image", "user", "seq", "created_at", "revoked")
