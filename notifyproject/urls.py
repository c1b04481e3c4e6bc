from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from notifications import views as notification_views

urlpatterns = [
    path("", notification_views.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("notifications/", include("notifications.urls")),
    path("preferences/", include("preferences.urls")),
    path("sw.js", notification_views.service_worker, name="service_worker"),
    path("api/v1/", include("notifications.api.urls")),
    path("admin/", admin.site.urls),
]
