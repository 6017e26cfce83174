from django.urls import path

from web.driver.consumers import DriverConsumer
from web.live.consumers import LiveConsumer
from web.tracking.consumers import TrackConsumer

websocket_urlpatterns = [
    path("ws/live/", LiveConsumer.as_asgi()),
    path("ws/track/<str:token>/", TrackConsumer.as_asgi()),
    path("ws/driver/", DriverConsumer.as_asgi()),
]
