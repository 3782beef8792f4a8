"""Signal receivers: login merges the anonymous profile into the user's; logout forgets the id."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from .conf import get_setting
from .profiles.identity import link_user, parse_visitor_token
from .visitors import forget_visitor, remember_visitor


@receiver(user_logged_in, dispatch_uid="personalization.link_user_on_login")
def merge_profile_on_login(sender, request, user, **kwargs):
    if request is None:
        return
    anonymous = parse_visitor_token(request.COOKIES.get(get_setting("COOKIE_NAME")))
    canonical = link_user(anonymous, user)
    if canonical is not None:
        remember_visitor(request, canonical)


@receiver(user_logged_out, dispatch_uid="personalization.forget_on_logout")
def forget_profile_on_logout(sender, request, user, **kwargs):
    """A shared computer must not keep adding the next person's visits to this user's profile."""
    if request is not None:
        forget_visitor(request)
