"""Top-level URLs. There is deliberately no route for MEDIA_ROOT: media goes through views."""
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("reviews.urls")),
    path("", include("reviews.urls_viewer")),  # editor tiles/renders (browser-realtime)
]
