"""The decide body's fast check (``decide_input``) never accepts what the serializer refuses,
and gives the same validated data; what it does not accept goes to the serializer, so the 400s
stay the serializer's."""

from __future__ import annotations

import json

import pytest

from personalization.api.v1.decide_input import well_formed_decide_body
from personalization.api.v1.serializers import DecideRequestSerializer

FULL_CONTEXT = {
    "url": "https://shop.example/p/1/?utm_source=news",
    "referrer": "",
    "user_agent": "Mozilla/5.0",
    "language": "fr-FR",
    "country": "fr",
    "region": "IDF",
    "dnt": False,
    "gpc": True,
    "timezone": "Europe/Paris",
    "query": {"utm_campaign": "spring", "empty": ""},
}

# (body, whether the fast check should take it)
BODIES = [
    ({"placements": ["banner"]}, True),
    ({"placements": ["banner", "cta"], "include_html": True}, True),
    ({"placements": ["a"] * 50, "visitor_id": "", "context": {}}, True),
    ({"placements": ["banner"], "visitor_id": "abc:def", "context": FULL_CONTEXT}, True),
    ({"placements": ["banner"], "context": {"country": ""}}, True),
    ({"placements": ["x" * 80]}, True),
    ({}, False),
    ({"placements": []}, False),
    ({"placements": ["a"] * 51}, False),
    ({"placements": ["x" * 81]}, False),
    ({"placements": "banner"}, False),
    ({"placements": {"0": "banner"}}, False),
    ({"placements": ["bad slug!"]}, False),
    ({"placements": [" banner "]}, False),
    ({"placements": ["banner\n"]}, False),
    ({"placements": [1]}, False),
    ({"placements": [None]}, False),
    ({"placements": None}, False),
    ({"placements": ["banner"], "include_html": "maybe"}, False),
    ({"placements": ["banner"], "include_html": 1}, False),
    ({"placements": ["banner"], "include_html": None}, False),
    ({"placements": ["banner"], "visitor_id": 12}, False),
    ({"placements": ["banner"], "visitor_id": True}, False),
    ({"placements": ["banner"], "visitor_id": None}, False),
    ({"placements": ["banner"], "visitor_id": " padded "}, False),
    ({"placements": ["banner"], "visitor_id": "nul\x00"}, False),
    ({"placements": ["banner"], "visitor_id": "lone\ud800"}, False),
    ({"placements": ["banner"], "visitor_id": ["a"]}, False),
    ({"placements": ["banner"], "context": "x"}, False),
    ({"placements": ["banner"], "context": None}, False),
    ({"placements": ["banner"], "context": {"country": "France"}}, False),
    ({"placements": ["banner"], "context": {"country": "FR\n"}}, False),
    ({"placements": ["banner"], "context": {"country": 33}}, False),
    ({"placements": ["banner"], "context": {"url": "u" * 2001}}, False),
    ({"placements": ["banner"], "context": {"user_agent": "u" * 513}}, False),
    ({"placements": ["banner"], "context": {"language": "l" * 36}}, False),
    ({"placements": ["banner"], "context": {"region": "r" * 17}}, False),
    ({"placements": ["banner"], "context": {"timezone": "t" * 65}}, False),
    ({"placements": ["banner"], "context": {"url": 5}}, False),
    ({"placements": ["banner"], "context": {"url": None}}, False),
    ({"placements": ["banner"], "context": {"url": "x\x00"}}, False),
    ({"placements": ["banner"], "context": {"dnt": "yes"}}, False),
    ({"placements": ["banner"], "context": {"gpc": 1}}, False),
    ({"placements": ["banner"], "context": {"query": "a=b"}}, False),
    ({"placements": ["banner"], "context": {"query": {"a": 1}}}, False),
    ({"placements": ["banner"], "context": {"query": {"a": "v" * 501}}}, False),
    ({"placements": ["banner"], "context": {"query": {"a": None}}}, False),
    ({"placements": ["banner"], "context": {"unknown": 1}}, False),
    ({"placements": ["banner"], "unknown": 1}, False),
    (["banner"], False),
    ("banner", False),
]


def normalised(data) -> object:
    return json.loads(json.dumps(data))


@pytest.mark.parametrize(("body", "fast_expected"), BODIES, ids=[repr(b)[:60] for b, _ in BODIES])
def test_the_fast_check_agrees_with_the_serializer(body, fast_expected):
    fast = well_formed_decide_body(body)
    assert (fast is not None) == fast_expected
    if fast is None:
        return  # the serializer answers, as before
    serializer = DecideRequestSerializer(data=body)
    assert serializer.is_valid(), serializer.errors
    assert normalised(fast) == normalised(serializer.validated_data)
