import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from notifications.models import Notification


def test_notify_command_sends_to_usernames(alice, bob, capsys):
    call_command("notify", "--to", "alice,bob", "--category", "comment", "--title", "Hi", "--body", "there")
    assert set(Notification.objects.values_list("recipient__username", flat=True)) == {"alice", "bob"}
    assert "2 recipient(s)" in capsys.readouterr().out


def test_notify_command_unknown_user(alice):
    with pytest.raises(CommandError, match="ghost"):
        call_command("notify", "--to", "alice,ghost", "--category", "comment", "--title", "Hi")
    assert not Notification.objects.exists()


def test_notify_command_bad_category(alice):
    with pytest.raises(CommandError, match="category"):
        call_command("notify", "--to", "alice", "--category", "nope", "--title", "Hi")
    assert not Notification.objects.exists()


def test_seed_demo_creates_users_and_history_once(db):
    call_command("seed_demo")
    call_command("seed_demo")
    User = get_user_model()
    assert set(User.objects.values_list("username", flat=True)) >= {"alice", "bob", "staff"}
    assert User.objects.get(username="staff").is_staff
    assert User.objects.get(username="bob").has_perm("notifications.send_notification")
    alice_rows = Notification.objects.filter(recipient__username="alice")
    assert alice_rows.count() == 41
    assert alice_rows.filter(read_at__isnull=True).count() == 3
