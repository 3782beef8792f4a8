"""App config: wires signals, checks and permission policies, nothing else."""

from django.apps import AppConfig


class PersonalizationConfig(AppConfig):
    name = "personalization"
    label = "personalization"
    verbose_name = "Personalization"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, signal_handlers  # noqa: F401
        from .views.policies import register_permission_policies

        # Before any admin view asks, so Wagtail never makes its fallback (Django auth) policy.
        register_permission_policies()
