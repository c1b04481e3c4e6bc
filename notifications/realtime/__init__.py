"""Realtime: the one package that knows group names and frame shapes, and the only caller of the channel layer.

- frames.py      group names, layer message types, frame shapes and their encoding
- publishing.py  publish after commit (`*_on_commit`), the PUBLISH fast path, the logout/deactivation/token hooks
- layer.py       the Redis pub/sub channel layer that tells consumers it reconnected (CHANNEL_LAYERS BACKEND)
- embedded.py    the embedded-mode watcher for rows written by other processes

`from notifications.realtime import X` works for every public name of those modules. To replace one in a test,
patch it where it is used (e.g. `notifications.realtime.publishing.publish`), not here.
"""

from .embedded import embedded_note_published, embedded_watch_start
from .frames import (
    CONTENT_CHANGED,
    CREDENTIALS_CHANGED,
    LAYER_RECOVERED,
    NOTIFICATION_CREATED,
    SESSION_ENDED,
    STATE_CHANGED,
    TICKET_SOCKETS,
    Message,
    NewRow,
    content_updated_frame,
    frame_encode,
    frame_state,
    new_frame_parts,
    notification_frame,
    retracted_frame,
    session_fingerprint,
    unread_count_frame,
    updated_frame_parts,
    user_group,
)
from .layer import RecoveringPubSubChannelLayer
from .publishing import (
    content_update_publish_on_commit,
    credentials_changed_on_commit,
    group_channel_name,
    notifications_publish_on_commit,
    on_token_deleted,
    on_user_logged_out,
    on_user_saved,
    publish,
    retraction_publish_on_commit,
    sessions_close_on_commit,
    state_publish_on_commit,
    ticket_sockets_close_on_commit,
)

__all__ = [
    "CONTENT_CHANGED",
    "CREDENTIALS_CHANGED",
    "LAYER_RECOVERED",
    "NOTIFICATION_CREATED",
    "SESSION_ENDED",
    "STATE_CHANGED",
    "TICKET_SOCKETS",
    "Message",
    "NewRow",
    "RecoveringPubSubChannelLayer",
    "content_update_publish_on_commit",
    "content_updated_frame",
    "credentials_changed_on_commit",
    "embedded_note_published",
    "embedded_watch_start",
    "frame_encode",
    "frame_state",
    "group_channel_name",
    "new_frame_parts",
    "notification_frame",
    "notifications_publish_on_commit",
    "on_token_deleted",
    "on_user_logged_out",
    "on_user_saved",
    "publish",
    "retracted_frame",
    "retraction_publish_on_commit",
    "session_fingerprint",
    "sessions_close_on_commit",
    "state_publish_on_commit",
    "ticket_sockets_close_on_commit",
    "unread_count_frame",
    "updated_frame_parts",
    "user_group",
]
