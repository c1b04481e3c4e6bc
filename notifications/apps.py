from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Integration points, not business logic: a logout, a deactivation, a password change or a revoked token
        # ends the sockets those credentials opened (4401).
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group, Permission
        from django.contrib.auth.signals import user_logged_out
        from django.db.models.signals import m2m_changed, post_delete, post_save
        from rest_framework.authtoken.models import Token

        from . import categories, realtime
        from .api.authentication import api_tokens_changed
        from .models import Category

        User = get_user_model()

        user_logged_out.connect(realtime.on_user_logged_out, dispatch_uid="notifications.realtime.logout")
        post_save.connect(realtime.on_user_saved, sender=User, dispatch_uid="notifications.realtime.deactivate")
        post_delete.connect(realtime.on_token_deleted, sender=Token, dispatch_uid="notifications.realtime.token")
        # Cache invalidation, not business logic: any edit of a category (admin, shell) clears every process's copy.
        post_save.connect(categories.on_category_edited, sender=Category, dispatch_uid="notifications.categories.save")
        post_delete.connect(categories.on_category_edited, sender=Category, dispatch_uid="notifications.categories.del")
        # The same for API tokens and what they authorize (api/authentication.py): whoever holds a token, whether
        # they are active, and which permissions they have, through themselves or a group.
        for model in (Token, User, Group, Permission):
            post_save.connect(
                api_tokens_changed, sender=model, dispatch_uid=f"notifications.tokens.save.{model.__name__}"
            )
            post_delete.connect(
                api_tokens_changed, sender=model, dispatch_uid=f"notifications.tokens.del.{model.__name__}"
            )
        for through in (User.groups.through, User.user_permissions.through, Group.permissions.through):
            m2m_changed.connect(
                api_tokens_changed, sender=through, dispatch_uid=f"notifications.tokens.m2m.{through.__name__}"
            )
