"""Tile / render views of the editor. Stub by django-app; "browser-realtime" owns and fills it."""
urlpatterns: list = []
