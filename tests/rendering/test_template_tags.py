"""The template tags, rendered the way a site's templates use them."""

from __future__ import annotations

import logging

import pytest
from django.template import Context, Template, TemplateSyntaxError
from django.test import RequestFactory

from ..conftest import DESKTOP, IPHONE, Visitor
from .conftest import FALLBACK_TEXT, MOBILE_TEXT, VIP_TEXT, make_segment

pytestmark = pytest.mark.django_db


def render(source: str, visitor: Visitor | None = None, *, user_agent: str = DESKTOP, **extra):
    request = RequestFactory().get("/somewhere/", HTTP_USER_AGENT=user_agent)
    if visitor is not None and visitor.token:
        request.COOKIES["pz_vid"] = visitor.token
    template = Template("{% load personalization_tags %}" + source)
    return template.render(Context({"request": request, **extra})).strip()


PERSONALIZE = (
    '{% personalize %}{% variant segments="vip" %}gold{% variant segments="mobile other" %}'
    "small{% else %}plain{% endpersonalize %}"
)


def test_personalize_picks_the_first_matching_variant(vip, regular):
    assert render(PERSONALIZE, vip) == "gold"
    assert render(PERSONALIZE, vip, user_agent=IPHONE) == "gold"  # order decides
    assert render(PERSONALIZE, regular, user_agent=IPHONE) == "small"
    assert render(PERSONALIZE, regular) == "plain"
    assert render(PERSONALIZE) == "plain"


def test_personalize_match_all_and_variable_segments(vip):
    source = '{% personalize %}{% variant segments=wanted match="all" %}both{% endpersonalize %}'
    assert render(source, vip, wanted=["vip", "mobile"]) == ""
    assert render(source, vip, user_agent=IPHONE, wanted=["vip", "mobile"]) == "both"
    assert render(source, vip, user_agent=IPHONE, wanted="vip, mobile") == "both"


def test_if_segment(vip, regular):
    source = '{% if_segment "vip" "partner" %}yes{% else %}no{% endif_segment %}'
    assert render(source, vip) == "yes"
    assert render(source, regular) == "no"
    strict = '{% if_segment "vip" "mobile" match="all" %}yes{% endif_segment %}'
    assert render(strict, vip) == ""
    assert render(strict, vip, user_agent=IPHONE) == "yes"


def test_visitor_segments(vip):
    source = "{% visitor_segments as segs %}{{ segs|join:',' }}"
    assert render(source, vip, user_agent=IPHONE) == "vip,mobile"  # priority order


def test_personalized_snippet(banner, vip, regular, caplog):
    assert VIP_TEXT in render('{% personalized_snippet "banner" %}', vip)
    assert MOBILE_TEXT in render('{% personalized_snippet "banner" %}', regular, user_agent=IPHONE)
    assert FALLBACK_TEXT in render('{% personalized_snippet "banner" %}', regular)
    with caplog.at_level(logging.WARNING):
        assert render('{% personalized_snippet "missing" %}', vip) == ""
    assert "missing" in caplog.text


@pytest.mark.parametrize(
    "source",
    [
        "{% personalize %}{% endpersonalize %}",
        "{% personalize %}text{% variant segments='a' %}x{% endpersonalize %}",
        "{% personalize %}{% variant %}x{% endpersonalize %}",
        "{% personalize %}{% variant segments='a' colour='red' %}x{% endpersonalize %}",
        "{% personalize %}{% variant segments='a' %}x{% else %}y{% else %}z{% endpersonalize %}",
        "{% personalize %}{% else %}y{% variant segments='a' %}x{% endpersonalize %}",
        "{% personalize now %}{% variant segments='a' %}x{% endpersonalize %}",
        "{% if_segment %}x{% endif_segment %}",
    ],
)
def test_mistakes_are_template_syntax_errors(source):
    with pytest.raises(TemplateSyntaxError):
        Template("{% load personalization_tags %}" + source)


def test_a_bad_match_value_is_an_error_at_render(vip):
    with pytest.raises(TemplateSyntaxError):
        render('{% personalize %}{% variant segments="vip" match="most" %}x{% endpersonalize %}')


def test_many_tags_over_fifty_segments_cost_no_query_once_warm(
    banner, vip, django_assert_num_queries
):
    for i in range(48):
        make_segment(f"s{i}", {"type": "device", "params": {"in": ["tablet"]}})
    source = (PERSONALIZE + '{% if_segment "vip" %}v{% endif_segment %}') * 20 + (
        '{% personalized_snippet "banner" %}' * 5
    )
    render(source, vip)  # warm: compiled definitions, snapshot
    with django_assert_num_queries(0):
        assert render(source, vip).count("gold") == 20


def test_if_segment_rejects_a_bad_match(vip):
    with pytest.raises(TemplateSyntaxError):
        render('{% if_segment "vip" match="most" %}x{% endif_segment %}', vip)


def test_consent_settings_link_reopens_the_choices():
    html = Template("{% load personalization_tags %}{% consent_settings_link %}").render(Context())
    assert html == (
        '<a href="#pz-consent" class="pz-consent-settings" '
        'data-pz-consent-open="pz-consent">Privacy choices</a>'
    )
    custom = Template(
        '{% load personalization_tags %}{% consent_settings_link label "my-cmp" %}'
    ).render(Context({"label": "Cookies & <you>"}))  # a variable is escaped
    assert 'href="#my-cmp"' in custom and ">Cookies &amp; &lt;you&gt;</a>" in custom
