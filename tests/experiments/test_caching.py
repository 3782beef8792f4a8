"""A shared cache keeps one copy of a page per experiment arm: Django's cache middleware as the
cache, two visitors in the same segments but different arms."""

from __future__ import annotations

import pytest

from personalization import tasks
from personalization.experiments.models import Exposure
from personalization.variants.models import PersonalizedContent

from ..conftest import Visitor
from ..rendering.conftest import VIP_VARIANT, article, variant  # noqa: F401 - fixtures
from ..rendering.test_caching import get_key, page_cache  # noqa: F401 - fixtures
from .conftest import make_experiment, visitors_by_arm

pytestmark = pytest.mark.django_db

ARM_A, ARM_B = "BANNER-FOR-ARM-A", "BANNER-FOR-ARM-B"


@pytest.fixture
def welcome_banner(segments):
    return PersonalizedContent.objects.create(
        name="Welcome",
        slug="welcome-banner",
        variants=[
            {
                "type": "variant",
                "value": variant(VIP_VARIANT, ["vip"], ARM_B)["value"],
                "id": VIP_VARIANT,
            }
        ],
        fallback=[{"type": "heading", "value": ARM_A}],
    )


def test_two_arms_get_two_cached_copies(
    page_cache,  # noqa: F811
    article,  # noqa: F811
    home,
    welcome_banner,
    django_assert_num_queries,
):
    experiment = make_experiment("welcome-banner")
    by_arm = visitors_by_arm("welcome-banner")
    copies = {}
    for arm, visitor in by_arm.items():
        visitor.client.get(article.url)  # hands over the key, privately
        copy = visitor.client.get(article.url)
        assert "private" not in copy.headers.get("Cache-Control", "")
        copies[arm] = copy
    assert ARM_A in copies["a"].content.decode() and ARM_B not in copies["a"].content.decode()
    assert ARM_B in copies["b"].content.decode() and ARM_A not in copies["b"].content.decode()
    keys = {arm: c.headers["X-Personalization-Key"] for arm, c in copies.items()}
    assert keys["a"] != keys["b"]  # same segments (none), different arms

    # Another visitor in arm b who carries their key is served b's copy from the cache.
    for _ in range(60):
        other = Visitor()
        other.consent(analytics=True, personalization=True)
        if get_key(other, home.url) == keys["b"]:
            break
    else:
        raise AssertionError("no second visitor in arm b")
    with django_assert_num_queries(0):
        cached = other.client.get(article.url)
    assert cached.content == copies["b"].content

    # Server renders logged exposures for the arm that was shown.
    tasks.flush_exposures()
    shown = Exposure.objects.filter(experiment=experiment, placement="welcome-banner")
    assert set(shown.values_list("arm", flat=True)) >= {"a", "b"}
    assert shown.filter(visitor_id=by_arm["b"].id, arm="b").exists()
