"""Routes of the editor page, its tiles (per revision), previews, history, AI path; the collection grid."""
from django.urls import path

from reviews import views_viewer as v

T = "images/<int:image_id>/tiles"
urlpatterns = [
    path("images/<int:image_id>/editor/", v.editor, name="editor"),
    path(f"{T}/original.dzi", v.dzi, {"layer": "original"}, name="dzi_original"),
    path(f"{T}/mask/<int:rev>.dzi", v.dzi, {"layer": "mask"}, name="dzi_mask"),
    path(f"{T}/cutout/<int:rev>.dzi", v.dzi, {"layer": "cutout"}, name="dzi_cutout"),
    # DZI layout: <layer>_files/<level>/<col>_<row>.<fmt> (the .dzi above names it)
    path(f"{T}/original_files/<int:level>/<int:col>_<int:row>.jpeg", v.original_tile),
    path(f"{T}/mask/<int:rev>_files/<int:level>/<int:col>_<int:row>.png", v.mask_tile),
    path(f"{T}/cutout/<int:rev>_files/<int:level>/<int:col>_<int:row>.png", v.cutout_tile),
    # the editor's own short forms
    path(f"{T}/original/<int:level>/<int:col>_<int:row>.jpeg", v.original_tile, name="tile_original"),
    path(f"{T}/mask/<int:rev>/<int:level>/<int:col>_<int:row>.png", v.mask_tile, name="tile_mask"),
    path(f"{T}/cutout/<int:rev>/<int:level>/<int:col>_<int:row>.png", v.cutout_tile, name="tile_cutout"),
    path(f"{T}/preview/<int:rev>/<int:level>/<int:col>_<int:row>.png", v.preview_tile, name="tile_preview"),
    path("images/<int:image_id>/history.json", v.history, name="image_history"),
    path("images/<int:image_id>/ai-path.json", v.ai_path, name="image_ai_path"),
    path("collections/<int:pk>/grid/", v.collection_grid, name="collection_grid"),
]
