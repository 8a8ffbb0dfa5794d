"""URLs of the review app. Each view checks reviews.policies (see the matrix test)."""
from django.contrib.auth import views as auth_views
from django.urls import path

from reviews import views
from reviews.throttle import ThrottledLoginView  # login throttling (scale-security)

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", ThrottledLoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("dashboard/lead/", views.lead_dashboard, name="lead_dashboard"),
    path("dashboard/lead/assign/", views.bulk_assign, name="bulk_assign"),
    path("dashboard/retoucher/", views.retoucher_dashboard, name="retoucher_dashboard"),
    path("dashboard/retoucher/<int:user_id>/", views.retoucher_dashboard, name="retoucher_queue"),
    path("dashboard/client/", views.client_dashboard, name="client_dashboard"),
    path("collections/new/", views.collection_new, name="collection_new"),
    path("collections/<int:pk>/", views.collection_detail, name="collection_detail"),
    path("collections/<int:pk>/progress.json", views.collection_progress, name="collection_progress"),
    path("collections/<int:pk>/upload/", views.collection_upload, name="collection_upload"),
    path("collections/<int:pk>/action/", views.collection_action, name="collection_action"),
    path("collections/<int:pk>/audit/", views.collection_audit, name="collection_audit"),
    path("collections/<int:pk>/swatches/", views.swatch_create, name="swatch_create"),
    path("collections/<int:pk>/exports/", views.export_create, name="export_create"),
    path("swatches/<int:pk>/approve/", views.swatch_approve, name="swatch_approve"),
    path("exports/<int:pk>/", views.export_status, name="export_status"),
    path("exports/<int:pk>/download/", views.export_download, name="export_download"),
    path("images/<int:pk>/", views.image_detail, name="image_detail"),
    path("images/<int:pk>/transition/", views.image_transition, name="image_transition"),
    # one URL per step as well, for the editor's decision buttons (names image_<action>)
    *[path(f"images/<int:pk>/{action}/", views.image_transition, {"action": action}, name=f"image_{action}")
      for action in ("assign", "submit", "send_back", "send_to_client", "approve", "request_changes", "retry_ingest")],
    path("images/<int:pk>/original/", views.image_original, name="image_original"),
    path("images/<int:pk>/thumb.jpg", views.image_thumbnail, name="image_thumbnail"),
    path("images/<int:pk>/qa-heatmap.png", views.image_heatmap, name="image_heatmap"),
    path("images/<int:pk>/revisions/<int:seq>/mask.png", views.revision_mask, name="revision_mask"),
    path("images/<int:pk>/compare/", views.revision_compare, name="revision_compare"),
    path("images/<int:pk>/compare/diff.png", views.revision_diff_png, name="revision_diff_png"),
    path("images/<int:pk>/comments/", views.comment_create, name="comment_create"),
    path("images/<int:pk>/colour/", views.colour_measure, name="colour_measure"),
    path("comments/<int:pk>/resolve/", views.comment_resolve, name="comment_resolve"),
    path("api/images/<int:pk>/operations/", views.api_operations, name="api_operations"),
]
