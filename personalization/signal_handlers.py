"""Signal receivers: wiring only (login merge, logout, segments following profiles, webhooks)."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db.backends.signals import connection_created
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from wagtail.signals import page_published, page_unpublished

from .background import SEGMENTS_QUEUE, enqueue
from .blocks.edits import log_block_edits
from .conf import get_setting
from .context import bump_content_version
from .experiments.models import Arm, Experiment, Exposure, Goal
from .experiments.services import assign_visitor as assign_arms
from .experiments.services import flush_exposures, log_content_edit
from .profiles.identity import link_user, parse_visitor_token
from .recommendations.models import RecommendationImpression
from .recommendations.serving import flush_impressions as flush_recommendation_impressions
from .recommendations.serving import forget_visitor_lists
from .registry import register_assigner, register_deriver
from .scoring.services import assign_visitor as assign_persona_and_scores
from .segments.base import sqlite_regexp
from .segments.models import Segment
from .segments.precomputed import with_profile_segments
from .segments.services import (
    bump_definitions,
    forget_memberships,
    recompute_segments_using,
    update_visitor_memberships,
)
from .segments.webhooks import deliver_webhook, webhook_batches
from .signals import (
    consent_changed,
    profile_changed,
    profiles_merged,
    scores_applied,
    segment_entered,
    segment_left,
    visitor_erased,
)
from .variants.models import Impression, PersonalizedContent
from .variants.services import flush_impressions
from .visitors import forget_visitor, remember_visitor

WEBHOOK_TASK = "personalization.segment_webhook"


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
    """Real-time membership: the event that crosses a threshold moves the visitor at once.

    The nearest persona and fresh scores come first, so segments on them see the new values."""
    assign_persona_and_scores(visitor_id)
    update_visitor_memberships(visitor_id)


@receiver(scores_applied, dispatch_uid="personalization.segments_follow_scores")
def recompute_segments_on_scores(sender, **kwargs):
    """After batch scoring, segments with persona or score conditions are recomputed."""
    recompute_segments_using({"persona", "score"})


@receiver(profiles_merged, dispatch_uid="personalization.segments_follow_merge")
def move_memberships_on_merge(sender, source_id, target_id, **kwargs):
    """The merged id is no longer a visitor of its own; the merged profile is judged afresh."""
    forget_memberships(source_id)
    update_visitor_memberships(target_id)


@receiver(segment_entered, dispatch_uid="personalization.webhook_on_enter")
@receiver(segment_left, dispatch_uid="personalization.webhook_on_leave")
def send_segment_webhook(sender, segment, visitor_ids, signal, **kwargs):
    """Queue webhooks after commit, for segments that have one: a task per batch of ids."""
    if not segment.webhook_url or not visitor_ids:
        return
    event = "entered" if signal is segment_entered else "left"
    for delivery_id, ids in webhook_batches([str(v) for v in visitor_ids]):
        enqueue(
            WEBHOOK_TASK,
            [segment.pk, event, ids, delivery_id],
            queue=SEGMENTS_QUEUE,
            inline=lambda ids=ids, delivery_id=delivery_id: deliver_webhook(
                segment.pk, event, ids, delivery_id
            ),
        )


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


@receiver(post_save, sender=PersonalizedContent, dispatch_uid="personalization.content_edit_log")
def log_content_edit_in_experiments(sender, instance, created, **kwargs):
    """Editing a variant during a run is allowed; the experiment's log says when it happened."""
    if not created:
        log_content_edit(instance.slug)


@receiver(page_published, dispatch_uid="personalization.block_edit_log")
def log_block_edits_in_experiments(sender, instance, revision=None, **kwargs):
    """A publish that changes a block an experiment runs on lands in the experiment's log."""
    log_block_edits(instance, revision)


@receiver(post_save, sender=Experiment, dispatch_uid="personalization.experiment_saved")
@receiver(post_delete, sender=Experiment, dispatch_uid="personalization.experiment_deleted")
@receiver(post_save, sender=Arm, dispatch_uid="personalization.arm_saved")
@receiver(post_delete, sender=Arm, dispatch_uid="personalization.arm_deleted")
@receiver(post_save, sender=Goal, dispatch_uid="personalization.goal_saved")
@receiver(post_delete, sender=Goal, dispatch_uid="personalization.goal_deleted")
def invalidate_experiments(sender, **kwargs):
    """Experiment definitions are memoised per content version, like snippets."""
    bump_content_version()


# Experiments put visitors into arms while their context is built (the arms join the cache key).
register_assigner(assign_arms)
# Profile-only segments are answered when a snapshot is cached, not on every request.
register_deriver(with_profile_segments)


@receiver(post_save, sender=Segment, dispatch_uid="personalization.segment_saved")
@receiver(post_delete, sender=Segment, dispatch_uid="personalization.segment_deleted")
def invalidate_segments(sender, **kwargs):
    """A saved or deleted segment changes every visitor's set, however it was saved
    (``save_segment``, the Django admin, a data migration, the shell): the one place that bumps
    the definitions version for it."""
    bump_definitions()


@receiver(visitor_erased, dispatch_uid="personalization.erase_buffered_impressions")
def erase_buffered_impressions(sender, visitor_id, **kwargs):
    """Impressions and exposures still waiting in their buffers are written (the erased
    visitor's are dropped there: their consent is gone), then erased like the rest."""
    flush_impressions()
    flush_exposures()
    Impression.objects.filter(visitor_id=visitor_id).delete()
    Exposure.objects.filter(visitor_id=visitor_id).delete()


@receiver(visitor_erased, dispatch_uid="personalization.forget_recommendations")
def forget_recommendations_on_erasure(sender, visitor_id, **kwargs):
    """Cached lists go with their rows (erasure already deleted the rows); impressions still
    waiting in the buffer are written, then erased like the rest."""
    forget_visitor_lists(visitor_id)
    flush_recommendation_impressions()
    RecommendationImpression.objects.filter(visitor_id=visitor_id).delete()


@receiver(consent_changed, dispatch_uid="personalization.recommendations_consent")
def forget_recommendations_without_consent(sender, visitor_id, changes, **kwargs):
    """Withdrawing personalization consent removes the visitor's precomputed list at once."""
    if changes.get("personalization") is False:
        forget_visitor_lists(visitor_id)


@receiver(connection_created, dispatch_uid="personalization.linear_time_regexp")
def linear_time_regexp_on_sqlite(sender, connection, **kwargs):
    """SQLite's REGEXP is Python's backtracking ``re``: segment rules with a regular expression
    would be exponential in bulk recompute. RE2 instead, as in memory and as PostgreSQL's ``~``
    (a pattern RE2 cannot read, from another app, still gets Python's ``re``)."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("REGEXP", 2, sqlite_regexp, deterministic=True)
