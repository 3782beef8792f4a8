"""App config: wires signals and checks, nothing else."""

from django.apps import AppConfig


class PersonalizationConfig(AppConfig):
    name = "personalization"
    label = "personalization"
    verbose_name = "Personalization"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, signal_handlers  # noqa: F401
