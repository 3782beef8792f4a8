"""Template tags. Every tag reads the one memoised visitor context of the request, so a page
with many personalized fragments costs what one costs."""

from __future__ import annotations

import logging

from django import template
from django.template.base import token_kwargs
from django.utils.html import format_html, json_script
from django.utils.safestring import mark_safe

from ..context import versions, visitor_context
from ..decisions import PlacementDecision, choose_placement, record_shown
from ..page_views import rendered_page_view
from ..profiles.snapshot import get_snapshot
from ..recommendations.serving import Filters, request_site_id
from ..recommendations.serving import recommend as recommend_items
from ..recommendations.serving import similar_items as similar_to
from ..scoring.services import persona_name
from ..segments.services import compiled_segments, may_personalize
from ..variants.selection import ALL, ANY, VariantRule, choose
from ..variants.services import snippet_definitions
from ..visitors import request_context, visitor_id_from_request

register = template.Library()
logger = logging.getLogger(__name__)
_warned: set[str] = set()


def _context_of(context):
    return visitor_context(context.get("request"))


@register.simple_tag(takes_context=True)
def visitor_profile(context) -> dict | None:
    """``{% visitor_profile as profile %}``: the visitor's own profile, if they allow profiling.

    Returns None for visitors without an id or without personalization consent, so templates
    fall back to default content.
    """
    request = context.get("request")
    if request is None:
        return None
    request._pz_private = True  # the page now shows one visitor's data: no shared cache copy
    visitor_id = visitor_id_from_request(request)
    if visitor_id is None:
        return None
    snapshot = get_snapshot(visitor_id)
    if not may_personalize(snapshot, request_context(request)):
        return None
    return {
        **snapshot.as_dict(),
        "top_tags": [name for name, _count in snapshot.top_dimensions("tag:", 5)],
        "top_categories": [name for name, _count in snapshot.top_dimensions("category:", 3)],
        "persona_name": persona_name(snapshot.persona),
    }


@register.simple_tag(takes_context=True)
def visitor_segments(context) -> list[str]:
    """``{% visitor_segments as segs %}``: slugs of the visitor's segments, highest priority
    first."""
    return list(_context_of(context).segments)


@register.simple_tag(takes_context=True)
def visitor_segment_names(context) -> list[str]:
    """``{% visitor_segment_names as names %}``: the names editors gave the visitor's segments
    (what a visitor-facing panel should show; slugs are for templates and the API), highest
    priority first."""
    names = {segment.slug: segment.name for segment in compiled_segments()}
    return [names.get(slug, slug) for slug in _context_of(context).segments]


@register.simple_tag(takes_context=True)
def personalized_snippet(context, slug: str):
    """``{% personalized_snippet "summer-promo" %}``: the snippet's variant for this visitor.

    An unknown slug renders nothing (and logs a warning), so a deleted snippet never breaks
    a page.
    """
    visitor = _context_of(context)  # read first: it fetches the versions with the snapshot
    snippet = snippet_definitions(visitor.versions[1] or versions()[1]).get(str(slug))
    if snippet is None:
        if slug not in _warned:  # once per process, not on every page view
            _warned.add(slug)
            logger.warning("personalized_snippet: no personalized content with slug %r", slug)
        return ""
    choice, assignment = choose_placement(snippet, visitor)
    if assignment is not None:  # an experiment decided: log the exposure as it is shown
        record_shown_exposure(visitor, PlacementDecision(snippet.slug, choice, assignment))
    content = choice.payload
    if not content:
        return ""
    return mark_safe(content.render_as_block(context.flatten()))  # noqa: S308 - block output


def record_shown_exposure(visitor, decision: PlacementDecision) -> None:
    record_shown(visitor, [decision])


# -- {% personalize %} ... {% variant segments="a b" %} ... {% else %} ... {% endpersonalize %} ---


def _slugs(value) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(value.replace(",", " ").split())
    return tuple(str(v) for v in value)


class VariantNode(template.Node):
    def __init__(self, index: int, segments, match, nodelist):
        self.index = index
        self.segments = segments
        self.match = match
        self.nodelist = nodelist

    def rule(self, context) -> VariantRule:
        match = self.match.resolve(context) if self.match is not None else ANY
        if match not in (ANY, ALL):
            raise template.TemplateSyntaxError(
                f'variant match must be "any" or "all", not {match!r}'
            )
        return VariantRule(
            id=str(self.index), segments=_slugs(self.segments.resolve(context)), match=match
        )


class PersonalizeNode(template.Node):
    def __init__(self, variants: list[VariantNode], fallback):
        self.variants = variants
        self.fallback = fallback

    def render(self, context):
        visitor = _context_of(context)
        choice = choose(
            ((node.rule(context), node.nodelist) for node in self.variants),
            visitor.segments,
            self.fallback,
            now=visitor.now,
        )
        return choice.payload.render(context) if choice.payload is not None else ""


def _variant_args(parser, bits, tag_name: str):
    kwargs = token_kwargs(bits, parser)
    if bits or "segments" not in kwargs or set(kwargs) - {"segments", "match"}:
        raise template.TemplateSyntaxError(
            f'{tag_name} takes segments="slug slug" and optionally match="any"|"all"'
        )
    return kwargs["segments"], kwargs.get("match")


@register.tag("personalize")
def do_personalize(parser, token):
    """The first ``{% variant %}`` whose segments match is rendered, else the ``{% else %}``
    part. ``segments`` lists slugs (space or comma separated, or a list variable); ``match``
    says whether any (default) or all of them are needed."""
    if len(token.split_contents()) != 1:
        raise template.TemplateSyntaxError("personalize takes no arguments")
    leading = parser.parse(("variant", "else", "endpersonalize"))
    if any(not isinstance(node, template.base.TextNode) or node.s.strip() for node in leading):
        raise template.TemplateSyntaxError("personalize must start with {% variant %}")
    variants: list[VariantNode] = []
    fallback = None
    token = parser.next_token()
    while token.contents != "endpersonalize":
        bits = token.split_contents()
        if bits[0] == "variant":
            if fallback is not None:
                raise template.TemplateSyntaxError("variant cannot follow else in personalize")
            segments, match = _variant_args(parser, bits[1:], "variant")
            nodelist = parser.parse(("variant", "else", "endpersonalize"))
            variants.append(VariantNode(len(variants), segments, match, nodelist))
        else:  # else
            if fallback is not None:
                raise template.TemplateSyntaxError("personalize takes one else")
            fallback = parser.parse(("variant", "else", "endpersonalize"))
        token = parser.next_token()
    if not variants:
        raise template.TemplateSyntaxError("personalize needs at least one {% variant %}")
    return PersonalizeNode(variants, fallback)


# -- {% if_segment "a" "b" match="all" %} ... {% else %} ... {% endif_segment %} -----------------


class IfSegmentNode(template.Node):
    def __init__(self, slugs, match, nodelist_true, nodelist_false):
        self.slugs = slugs
        self.match = match
        self.nodelist_true = nodelist_true
        self.nodelist_false = nodelist_false

    def render(self, context):
        slugs = [s for expr in self.slugs for s in _slugs(expr.resolve(context))]
        match = self.match.resolve(context) if self.match is not None else ANY
        if match not in (ANY, ALL):
            raise template.TemplateSyntaxError(
                f'if_segment match must be "any" or "all", not {match!r}'
            )
        visitor = _context_of(context)
        hit = visitor.in_all(slugs) if match == ALL else visitor.in_any(slugs)
        if hit:
            return self.nodelist_true.render(context)
        return self.nodelist_false.render(context) if self.nodelist_false else ""


@register.tag("if_segment")
def do_if_segment(parser, token):
    """``{% if_segment "vip" "partners" %}`` (any of them) or ``... match="all" %}``."""
    bits = token.split_contents()[1:]
    kwargs = {}
    if bits and "=" in bits[-1]:
        kwargs = token_kwargs(bits[-1:], parser)
        bits = bits[:-1]
    if not bits or set(kwargs) - {"match"}:
        raise template.TemplateSyntaxError("if_segment takes segment slugs and optionally match=")
    slugs = [parser.compile_filter(bit) for bit in bits]
    nodelist_true = parser.parse(("else", "endif_segment"))
    nodelist_false = None
    if parser.next_token().contents == "else":
        nodelist_false = parser.parse(("endif_segment",))
        parser.delete_first_token()
    return IfSegmentNode(slugs, kwargs.get("match"), nodelist_true, nodelist_false)


def _filters(context, page_type: str = "", locale: str = "", all_sites: bool = False) -> Filters:
    """Editor filters plus the current site: a multi-site install never links across sites
    unless the template asks for ``all_sites=True``."""
    types = tuple(t.strip().lower() for t in page_type.split(",") if t.strip())
    site_id = None if all_sites else request_site_id(context.get("request"))
    return Filters(page_types=types, locale=locale, site_id=site_id)


@register.simple_tag(takes_context=True)
def recommend(
    context,
    limit: int = 6,
    placement: str = "",
    page_type: str = "",
    locale: str = "",
    all_sites: bool = False,
):
    """``{% recommend limit=6 placement="home" as items %}``: recommendations for the visitor.

    Iterate ``items`` for ``id``, ``title``, ``url``, ``score`` and ``reason.text``; send
    ``items.decision_id`` with click events. The page becomes private (never a shared-cache copy).
    """
    request = context.get("request")
    if request is not None:
        request._pz_private = True
    return recommend_items(
        _context_of(context),
        limit=max(1, min(int(limit), 50)),
        placement=placement or "template",
        filters=_filters(context, page_type, locale, all_sites),
    )


@register.simple_tag(takes_context=True)
def similar_items(
    context, item, limit: int = 4, placement: str = "", page_type: str = "", all_sites=False
):
    """``{% similar_items page limit=4 as items %}``: "more like this" for a page (or id).

    The same for every visitor, so the page stays cacheable; for the same reason no impression
    is recorded here (a cached copy is shown to many visitors under one decision id).
    """
    item_id = str(getattr(item, "pk", item) or "")
    return similar_to(
        item_id,
        _context_of(context),
        limit=max(1, min(int(limit), 50)),
        placement=placement or "similar",
        filters=_filters(context, page_type, all_sites=all_sites),
        record=False,
    )


@register.simple_tag
def consent_settings_link(label: str = "Privacy choices", target: str = "pz-consent"):
    """A link that reopens the consent choices, so a visitor can change their mind at any time.

    ``{% consent_settings_link %}`` renders ``<a href="#pz-consent" data-pz-consent-open>``. The
    site's consent dialog (the element with id ``target``) shows itself when it is clicked:
    listen for clicks on ``[data-pz-consent-open]``, or style ``#pz-consent:target`` so the link
    works without JavaScript. The dialog's buttons post to the consent API, which records a
    withdrawal (``false``) as readily as a grant.
    """
    return format_html(
        '<a href="#{}" class="pz-consent-settings" data-pz-consent-open="{}">{}</a>',
        target,
        target,
        label,
    )


@register.simple_tag(takes_context=True)
def tracker_page_view(context):
    """The render id and properties of this page view, for tracker.js to report each load.

    ``{% tracker_page_view %}`` (in the base template, next to tracker.js) renders
    ``<script type="application/json" id="pz-page-view">`` when page views behind a page cache
    are counted (``PERSONALIZATION_CACHED_PAGE_VIEWS``), else nothing. A cached copy carries the
    id of the render that made it: loads the server never saw are counted, the one it recorded
    is not counted twice (see docs/caching.md). The same for every visitor, so it may be cached.
    """
    data = rendered_page_view(context.get("request"), context.get("page"))
    return json_script(data, "pz-page-view") if data else ""
