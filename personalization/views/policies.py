"""The admin's permission policies, registered with Wagtail once, when the app is ready.

On Wagtail 8+ every admin view asks Wagtail's registry; registering from ``AppConfig.ready``
puts ours there before any view or viewset asks, so Wagtail never makes its fallback (Django
auth) policy for these models. On 7.x the viewsets return the same policies themselves.
"""

from __future__ import annotations

from ..compat import register_permission_policy


def register_permission_policies() -> None:
    from ..experiments.models import Experiment
    from ..scoring.models import ModelVersion, Persona
    from ..segments.models import Segment
    from .experiments import experiment_permission_policy
    from .scoring import model_permission_policy, persona_permission_policy
    from .segments import segment_permission_policy

    register_permission_policy(Segment, segment_permission_policy)
    register_permission_policy(Experiment, experiment_permission_policy)
    register_permission_policy(ModelVersion, model_permission_policy)
    register_permission_policy(Persona, persona_permission_policy)
