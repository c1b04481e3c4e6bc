"""Email delivery channel: one email per delivery, or one digest email per user for the batched ones.

HTML and plain-text parts from templates/email/<category>.{html,txt} with default.{html,txt} as fallback
(Django autoescaping covers the HTML part; the subject is stripped of line breaks). RFC 8058 one-click unsubscribe
headers on every email of a category that can be turned off. Private categories and users who chose
`email_content = false` get generic text and a link to the notification center.
"""

import logging
import smtplib
import socket
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string, select_template

from ..grouping import actor_display_name, group_phrase
from .base import SENT, Message, Outcome, absolute_url, dead, retry, visible_text
from .unsubscribe import unsubscribe_url

logger = logging.getLogger(__name__)


def _subject(text: str) -> str:
    return " ".join(text.split())[:200]


def _render(kind: str, slug: str, context: dict[str, Any]) -> tuple[str, str]:
    html = select_template([f"email/{slug}.html", f"email/{kind}.html"]).render(context)
    try:
        text = select_template([f"email/{slug}.txt", f"email/{kind}.txt"]).render(context)
    except TemplateDoesNotExist:
        text = render_to_string(f"email/{kind}.txt", context)
    return html, text


def _email(*, to: str, subject: str, html: str, text: str, unsubscribe: str | None) -> EmailMultiAlternatives:
    headers = {"Auto-Submitted": "auto-generated"}
    if unsubscribe:
        headers["List-Unsubscribe"] = f"<{unsubscribe}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message = EmailMultiAlternatives(
        subject=_subject(subject), body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[to], headers=headers
    )
    message.attach_alternative(html, "text/html")
    return message


def email_build(message: Message) -> EmailMultiAlternatives:
    """One notification as an email."""
    shown = visible_text(message, include_content=message.user_settings.email_content)
    category = message.category
    unsubscribe = None if category.mandatory else unsubscribe_url(user_id=message.user.pk, category_ids=[category.pk])
    subject = shown.title
    if not message.user_settings.email_content and not category.is_private:
        subject = f"New notification: {category.label}"
    context = {
        "title": shown.title,
        "body": shown.body,
        "url": shown.url,
        "private": shown.private,
        "category": category.label,
        "priority": message.content.priority,
        "actions": []
        if shown.private
        else [{"label": a.get("label", ""), "url": absolute_url(a.get("url", ""))} for a in message.content.actions],
        "center_url": absolute_url(""),
        "preferences_url": absolute_url("/preferences/"),
        "unsubscribe_url": unsubscribe,
        "site_url": settings.SITE_URL,
    }
    html, text = _render("default", category.slug, context)
    return _email(to=message.user.email, subject=subject, html=html, text=text, unsubscribe=unsubscribe)


def digest_build(messages: list[Message]) -> EmailMultiAlternatives:
    """Many notifications of one user as one email, newest first."""
    first = messages[0]
    include = first.user_settings.email_content
    items = [_digest_line(group, include) for group in _digest_groups(messages)]
    optional = sorted({m.category.pk for m in messages if not m.category.mandatory})
    unsubscribe = unsubscribe_url(user_id=first.user.pk, category_ids=optional) if optional else None
    count = len(messages)
    context = {
        "items": items,
        "count": count,
        "center_url": absolute_url(""),
        "preferences_url": absolute_url("/preferences/"),
        "unsubscribe_url": unsubscribe,
        "site_url": settings.SITE_URL,
    }
    html, text = _render("digest", "digest", context)
    subject = f"{count} new notification{'s' if count != 1 else ''}"
    return _email(to=first.user.email, subject=subject, html=html, text=text, unsubscribe=unsubscribe)


def _digest_groups(messages: list[Message]) -> list[list[Message]]:
    """Newest first; the notifications of one group (category + group_key) together, where its newest is, newest
    first: one digest line each, as the center shows them."""
    groups: dict[tuple[int, str] | int, list[Message]] = {}
    for m in sorted(messages, key=lambda m: m.notification.seq, reverse=True):
        key = m.content.group_key
        groups.setdefault((m.category.pk, key) if key else m.notification.pk, []).append(m)
    return list(groups.values())


def _digest_line(group: list[Message], include: bool) -> dict[str, Any]:
    """The newest member's text, and for a group its summary. Private (or content off): who is a part of the
    content, so only the count."""
    newest = group[0]
    shown = visible_text(newest, include_content=include)
    line = {"title": shown.title, "body": shown.body, "url": shown.url, "category": newest.category.label}
    if len(group) > 1:
        actors: list[str] = []
        actor_ids: list[int] = []
        for m in group:
            actor = m.content.actor
            if shown.private or actor is None or actor.pk in actor_ids:
                continue
            actor_ids.append(actor.pk)
            first, last = actor.first_name, actor.last_name
            actors.append(actor_display_name(first_name=first, last_name=last, username=actor.get_username()))
        line["summary"] = group_phrase(actors[:3], len(actor_ids), len(group))
    return line


def _outcome(exc: Exception) -> Outcome:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _msg in exc.recipients.values()]
        if codes and all(400 <= c < 500 for c in codes):
            return retry(f"recipient refused temporarily: {codes}")
        return dead(f"recipient refused: {codes}")
    if isinstance(exc, smtplib.SMTPResponseException):
        if 500 <= exc.smtp_code < 600:
            return dead(f"SMTP {exc.smtp_code}")
        return retry(f"SMTP {exc.smtp_code}")
    if isinstance(exc, smtplib.SMTPException | OSError | socket.timeout):
        return retry(f"SMTP connection: {type(exc).__name__}")
    return retry(f"{type(exc).__name__}")


class EmailChannel:
    name = "email"

    def is_configured(self) -> bool:
        return True

    def send(self, messages: list[Message]) -> Iterator[tuple[int, Outcome]]:
        """One SMTP connection for the batch; each email succeeds or fails on its own, reported as it goes."""
        emails: list[tuple[list[int], EmailMultiAlternatives]] = []
        digests: dict[int, list[int]] = defaultdict(list)
        for index, message in enumerate(messages):
            if message.delivery.digest:
                digests[message.user.pk].append(index)
            else:
                emails.append(([index], email_build(message)))
        for indexes in digests.values():
            emails.append((indexes, digest_build([messages[i] for i in indexes])))
        connection = get_connection(fail_silently=False)
        try:
            connection.open()
        except Exception as exc:
            failed = _outcome(exc)
            logger.warning("email connection failed: %s", failed.error)
            for index in range(len(messages)):
                yield index, failed
            return
        try:
            for position, (indexes, email) in enumerate(emails):
                try:
                    connection.send_messages([email])
                    result = SENT
                except Exception as exc:
                    result = _outcome(exc)
                    logger.warning("email delivery failed: %s", result.error)
                    if isinstance(exc, smtplib.SMTPServerDisconnected | OSError):
                        try:
                            connection.close()
                            connection.open()
                        except Exception as reopen:  # the server is gone: the rest of the batch retries
                            failed = _outcome(reopen)
                            for i in indexes:
                                yield i, result
                            for rest, _email in emails[position + 1 :]:
                                for i in rest:
                                    yield i, failed
                            return
                for i in indexes:
                    yield i, result
        finally:
            try:
                connection.close()
            except Exception:  # closing a broken connection must not turn sent emails into failures
                logger.debug("email connection close failed", exc_info=True)
