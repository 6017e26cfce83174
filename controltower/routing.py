from django.urls import path

from .consumers import LiveConsumer, TrackConsumer

websocket_urlpatterns = [
    path("ws/live/", LiveConsumer.as_asgi()),
    path("ws/track/<str:token>/", TrackConsumer.as_asgi()),
]
