from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from notifications import health
from notifications import views as notification_views
from notifications.delivery.unsubscribe import unsubscribe_view
from notifyproject.auth import LoginView

urlpatterns = [
    path("", notification_views.home, name="home"),
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("notifications/", include("notifications.urls")),
    path("preferences/", include("preferences.urls")),
    path("sw.js", notification_views.service_worker, name="service_worker"),
    path("unsubscribe/<str:token>/", unsubscribe_view, name="unsubscribe"),
    path("api/v1/", include("notifications.api.urls")),
    # Staff sign in through the same (rate-limited) login page; the admin checks is_staff after it.
    path("admin/login/", RedirectView.as_view(url="/accounts/login/", query_string=True)),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("metrics", health.metrics, name="metrics"),
]

handler404 = "notifications.api.errors.page_not_found"
handler500 = "notifications.api.errors.server_error"
