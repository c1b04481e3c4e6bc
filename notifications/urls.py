from django.urls import path

from . import views, why_views

app_name = "notifications"

urlpatterns = [
    path("", views.center, name="center"),
    path("<uuid:id>/state/", views.notification_state, name="state"),
    path("<uuid:id>/snooze/", views.notification_snooze, name="snooze"),
    path("<uuid:id>/why/", why_views.notification_why, name="why"),
    path("<uuid:id>/mute/", why_views.notification_mute, name="mute"),
    path("<uuid:id>/unmute/", why_views.notification_unmute, name="unmute"),
    path("<uuid:id>/channel-off/", why_views.notification_channel_off, name="channel_off"),
    path("bulk/", views.notifications_bulk_state, name="bulk"),
    path("mark-all-read/", views.mark_all_read, name="mark_all_read"),
    path("test/", views.send_test, name="send_test"),
]
