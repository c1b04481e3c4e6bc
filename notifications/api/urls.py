from django.urls import path

from .webpush import WebPushPublicKeyView

urlpatterns: list = [
    path("webpush/public-key/", WebPushPublicKeyView.as_view(), name="webpush-public-key"),
]
