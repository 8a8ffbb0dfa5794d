"""Websocket routes: one socket per open image (reviews.consumers.ImageConsumer)."""
from django.urls import path

from reviews.consumers import ImageConsumer

websocket_urlpatterns = [
    path("ws/images/<int:image_id>/", ImageConsumer.as_asgi()),
]
