"""Signal receivers: login merges the anonymous profile into the user's; logout forgets the id."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from .conf import get_setting
from .profiles.identity import link_user, parse_visitor_token
from .segments.services import update_visitor_memberships
from .signals import profile_changed
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


@receiver(user_logged_out, dispatch_uid="personalization.forget_on_logout")
def forget_profile_on_logout(sender, request, user, **kwargs):
    """A shared computer must not keep adding the next person's visits to this user's profile."""
    if request is not None:
        forget_visitor(request)
