"""Signal receivers: wiring only (login merge, logout, segments following profiles, webhooks)."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db.backends.signals import connection_created
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from wagtail.signals import page_published, page_unpublished

from .conf import get_setting
from .context import bump_content_version
from .enqueue import send_after_commit
from .profiles.identity import link_user, parse_visitor_token
from .segments.base import sqlite_regexp
from .segments.models import Segment
from .segments.services import bump_definitions, forget_memberships, update_visitor_memberships
from .signals import (
    profile_changed,
    profiles_merged,
    segment_entered,
    segment_left,
    visitor_erased,
)
from .tasks import segment_webhook
from .variants.models import Impression, PersonalizedContent
from .variants.services import flush_impressions
from .visitors import forget_visitor, remember_visitor


@receiver(user_logged_in, dispatch_uid="personalization.link_user_on_login")
def merge_profile_on_login(sender, request, user, **kwargs):
    if request is None:
        return
    anonymous = parse_visitor_token(request.COOKIES.get(get_setting("COOKIE_NAME")))
    canonical = link_user(anonymous, user)
    if canonical is not None:
        remember_visitor(request, canonical)


@receiver(profile_changed, dispatch_uid="personalization.segments_follow_profile")
def update_segments_on_profile_change(sender, visitor_id, **kwargs):
    """Real-time membership: the event that crosses a threshold moves the visitor at once."""
    update_visitor_memberships(visitor_id)


@receiver(profiles_merged, dispatch_uid="personalization.segments_follow_merge")
def move_memberships_on_merge(sender, source_id, target_id, **kwargs):
    """The merged id is no longer a visitor of its own; the merged profile is judged afresh."""
    forget_memberships(source_id)
    update_visitor_memberships(target_id)


@receiver(segment_entered, dispatch_uid="personalization.webhook_on_enter")
@receiver(segment_left, dispatch_uid="personalization.webhook_on_leave")
def send_segment_webhook(sender, segment, visitor_ids, signal, **kwargs):
    """Queue a webhook after commit, for segments that have one."""
    if not segment.webhook_url or not visitor_ids:
        return
    event = "entered" if signal is segment_entered else "left"
    ids = [str(v) for v in visitor_ids]
    send_after_commit(segment_webhook.name, [segment.pk, event, ids])


@receiver(user_logged_out, dispatch_uid="personalization.forget_on_logout")
def forget_profile_on_logout(sender, request, user, **kwargs):
    """A shared computer must not keep adding the next person's visits to this user's profile."""
    if request is not None:
        forget_visitor(request)


@receiver(post_save, sender=PersonalizedContent, dispatch_uid="personalization.content_saved")
@receiver(post_delete, sender=PersonalizedContent, dispatch_uid="personalization.content_deleted")
@receiver(page_published, dispatch_uid="personalization.page_published")
@receiver(page_unpublished, dispatch_uid="personalization.page_unpublished")
def invalidate_content(sender, **kwargs):
    """New content means new segment keys: cached copies of old pages are no longer served."""
    bump_content_version()


@receiver(post_delete, sender=Segment, dispatch_uid="personalization.segment_deleted")
def invalidate_segments(sender, **kwargs):
    """A deleted segment changes every visitor's set (``save_segment`` covers edits)."""
    bump_definitions()


@receiver(visitor_erased, dispatch_uid="personalization.erase_buffered_impressions")
def erase_buffered_impressions(sender, visitor_id, **kwargs):
    """Impressions still waiting in the buffer are written, then erased like the rest."""
    flush_impressions()
    Impression.objects.filter(visitor_id=visitor_id).delete()


@receiver(connection_created, dispatch_uid="personalization.linear_time_regexp")
def linear_time_regexp_on_sqlite(sender, connection, **kwargs):
    """SQLite's REGEXP is Python's backtracking ``re``: segment rules with a regular expression
    would be exponential in bulk recompute. RE2 instead, as in memory and as PostgreSQL's ``~``
    (a pattern RE2 cannot read, from another app, still gets Python's ``re``)."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("REGEXP", 2, sqlite_regexp, deterministic=True)
