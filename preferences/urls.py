from django.urls import path

from . import views

# No namespace: the page keeps its historical name "preferences".
urlpatterns = [
    path("", views.preferences_page, name="preferences"),
    path("do-not-disturb/", views.do_not_disturb, name="preferences_dnd"),
    path("devices/<str:kind>/<int:pk>/remove/", views.device_remove, name="preferences_device_remove"),
    path("mutes/<int:pk>/remove/", views.mute_remove, name="preferences_mute_remove"),
]
