"""The DRF API (contract.md, REST API), mounted at /api/v1/. One line per endpoint: easy to merge."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from . import devices, explain, export, preferences, sends, views, webhooks
from .tickets import WsTicketCreateView
from .webpush import WebPushPublicKeyView

router = SimpleRouter()
router.register("devices/apns", devices.APNSDeviceViewSet, basename="device-apns")
router.register("devices/fcm", devices.FCMDeviceViewSet, basename="device-fcm")
router.register("devices/webpush", devices.WebPushDeviceViewSet, basename="device-webpush")

urlpatterns = [
    path("notifications/", views.NotificationListView.as_view(), name="api-notification-list"),
    path("notifications/send/", views.NotificationSendView.as_view(), name="api-notification-send"),
    path("notifications/send-bulk/", views.NotificationSendBulkView.as_view(), name="api-notification-send-bulk"),
    path(
        "notifications/mark-all-read/",
        views.NotificationMarkAllReadView.as_view(),
        name="api-notification-mark-all-read",
    ),
    path("notifications/mark-seen/", views.NotificationMarkSeenView.as_view(), name="api-notification-mark-seen"),
    path(
        "notifications/unread-count/", views.NotificationUnreadCountView.as_view(), name="api-notification-unread-count"
    ),
    path("notifications/sends/by-key/", sends.SendByKeyView.as_view(), name="api-send-by-key"),
    path("notifications/sends/by-key/retract/", sends.SendByKeyRetractView.as_view(), name="api-send-by-key-retract"),
    path("notifications/sends/<str:id>/", sends.SendDetailView.as_view(), name="api-send-detail"),
    path("notifications/sends/<str:id>/retract/", sends.SendRetractView.as_view(), name="api-send-retract"),
    path("notifications/retract/", sends.RetractGroupView.as_view(), name="api-notification-retract-group"),
    path("notifications/<str:id>/why/", explain.NotificationExplainView.as_view(), name="api-notification-why"),
    path("notifications/<str:id>/", views.NotificationDetailView.as_view(), name="api-notification-detail"),
    path("categories/", preferences.CategoryListView.as_view(), name="api-category-list"),
    path("preferences/", preferences.PreferencesView.as_view(), name="api-preferences"),
    path("webpush/public-key/", WebPushPublicKeyView.as_view(), name="webpush-public-key"),
    path("ws-tickets/", WsTicketCreateView.as_view(), name="ws-ticket-create"),
    path("webhooks/", webhooks.WebhookListView.as_view(), name="api-webhook-list"),
    path("webhooks/<str:id>/", webhooks.WebhookDetailView.as_view(), name="api-webhook-detail"),
    path("me/export/", export.ExportView.as_view(), name="api-me-export"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include(router.urls)),
]
