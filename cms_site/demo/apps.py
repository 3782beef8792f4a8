from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo host site: page types and seed data for trying the personalization plugin."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "cms_site.demo"
    label = "demo"
    verbose_name = "Demo site"
