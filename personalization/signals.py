"""Signals other code (and other systems, through receivers) can listen to."""

from django.dispatch import Signal

# visitor_id, changes: {purpose: granted}
consent_changed = Signal()
# source_id, target_id: an anonymous profile was merged into a user's profile
profiles_merged = Signal()
# visitor_id, counts: {model label: rows deleted}
visitor_erased = Signal()
# visitor_id: a visitor's profile changed (events folded, traits set); segments follow
profile_changed = Signal()
# segment, visitor_ids: visitors entered / left a segment
segment_entered = Signal()
segment_left = Signal()
# changed: the scoring layer rewrote personas and scores in bulk; segments on them follow
scores_applied = Signal()
