from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Integration points, not business logic: a logout, a deactivation, a password change or a revoked token
        # ends the sockets those credentials opened (4401).
        from django.contrib.auth import get_user_model
        from django.contrib.auth.signals import user_logged_out
        from django.db.models.signals import post_delete, post_save
        from rest_framework.authtoken.models import Token

        from . import categories, realtime
        from .models import Category

        user_logged_out.connect(realtime.on_user_logged_out, dispatch_uid="notifications.realtime.logout")
        post_save.connect(
            realtime.on_user_saved, sender=get_user_model(), dispatch_uid="notifications.realtime.deactivate"
        )
        post_delete.connect(realtime.on_token_deleted, sender=Token, dispatch_uid="notifications.realtime.token")
        # Cache invalidation, not business logic: any edit of a category (admin, shell) clears every process's copy.
        post_save.connect(categories.on_category_edited, sender=Category, dispatch_uid="notifications.categories.save")
        post_delete.connect(categories.on_category_edited, sender=Category, dispatch_uid="notifications.categories.del")
