"""StreamField blocks for content variants.

``VariantsBlock`` is the definition of a page's personalized block: an ordered list of variants
(first match wins, editors reorder to change priority) and default content, chosen by the
visitor's segments. Rendering, the pages API and search all see only what the visitor qualifies
for: other variants' content never leaves the server, and search indexes only the default
content. ``personalization.blocks.PersonalizedBlock`` (the class host sites use) adds experiments
on top; it lives above ``decisions``, which this package may not import.

Reading a page converts only the variants' rules (names, segments, schedule); each variant's
content stays raw JSON in a lazy ``StreamValue`` until it is rendered, so a page of twenty
personalized blocks converts twenty contents, not eighty.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from wagtail import blocks
from wagtail.blocks.list_block import ListValue
from wagtail.blocks.struct_block import StructBlockValidationError
from wagtail.images.blocks import ImageChooserBlock

from ..context import VisitorContext, visitor_context
from .selection import ALL, ANY, Choice, VariantRule, choose

SAFE_LINK_PREFIXES = ("/", "#", "https://", "http://", "mailto:", "tel:")


def segment_choices() -> list[tuple[str, str]]:
    """Every segment, for the variant's segment picker (evaluated when the form is drawn)."""
    from ..segments.models import Segment

    return [
        (slug, name if status == Segment.Status.ENABLED else f"{name} ({status})")
        for slug, name, status in Segment.objects.order_by("name").values_list(
            "slug", "name", "status"
        )
    ]


def validate_link(value: str) -> None:
    if value and not value.startswith(SAFE_LINK_PREFIXES):
        raise ValidationError("Use a path (/pricing/), an http(s) URL, mailto: or tel:.")


class SegmentChoiceBlock(blocks.MultipleChoiceBlock):
    """Segment slugs. Reading a stored value never looks up the choices (that would be a query
    per block per page view); the choices are only listed when an editor opens the form."""

    def to_python(self, value):
        if value is None:
            return []
        return [str(v) for v in (value if isinstance(value, list | tuple) else [value])]

    def get_searchable_content(self, value):
        return []


def _reads_database(block) -> bool:
    """Whether converting this block's value queries the database (choosers, at any depth)."""
    if isinstance(block, blocks.ChooserBlock):
        return True
    children = getattr(block, "child_blocks", None)
    if children:
        return any(_reads_database(child) for child in children.values())
    child = getattr(block, "child_block", None)
    return child is not None and _reads_database(child)


class LazyContentMixin:
    """``bulk_to_python`` that leaves the variants' content unconverted until shown.

    Wagtail's ``StructBlock.bulk_to_python`` converts every child in bulk, and a
    ``StreamBlock``'s bulk conversion is eager: every variant's content of every block on the
    page would be converted from JSON though one variant per block is shown. Here the variants
    stay raw (``LazyVariants``) and the default content is a lazy ``StreamValue``.

    Content holding chooser items (images, pages, snippets) is the exception: Wagtail's bulk
    conversion fetches those in one query for the whole page, where converting each shown
    variant on its own would cost a query per block. Such values are converted as before.
    """

    def bulk_to_python(self, values):
        values = list(values)
        eager = [i for i, value in enumerate(values) if self._needs_bulk(value)]
        converted = dict(
            zip(eager, super().bulk_to_python([values[i] for i in eager]), strict=True)
        )
        return [
            converted[i] if i in converted else self.lazy_to_python(v) for i, v in enumerate(values)
        ]

    def _database_types(self) -> frozenset[str]:
        cached = getattr(self, "_pz_database_types", None)
        if cached is None:
            types = set()
            variants = self.child_blocks.get("variants")
            content_blocks = [self.child_blocks.get("fallback")]
            if variants is not None:
                content_blocks.append(variants.child_block.child_blocks.get("content"))
            for content in content_blocks:
                for name, child in getattr(content, "child_blocks", {}).items():
                    if _reads_database(child):
                        types.add(name)
            cached = self._pz_database_types = frozenset(types)
        return cached

    def _needs_bulk(self, value) -> bool:
        types = self._database_types()
        if not types or not isinstance(value, dict):
            return False
        streams = [value.get("fallback") or []]
        for item in value.get("variants") or []:
            inner = item.get("value") if isinstance(item, dict) else None
            if isinstance(inner, dict):
                streams.append(inner.get("content") or [])
        return any(
            isinstance(child, dict) and child.get("type") in types
            for stream in streams
            if isinstance(stream, list)
            for child in stream
        )

    def lazy_to_python(self, value):
        items = []
        for name, child in self.child_blocks.items():
            if name not in value:
                items.append((name, child.get_default()))
            elif name == "variants" and LazyVariants.applies(child, value[name]):
                items.append((name, LazyVariants(child, value[name])))
            else:
                items.append((name, child.to_python(value[name])))
        return self._to_struct_value(items)


class LazyVariants(ListValue):
    """A personalized block's variants as stored: the rules are read from the raw JSON and only
    the shown variant's content is converted (``content``). Anything else that touches the list
    (the editor's form, saving, ``bound_blocks``) converts it all, once, as Wagtail would."""

    def __init__(self, list_block, raw: list):
        self.list_block = list_block
        self.raw = raw
        self._bound = None

    @staticmethod
    def applies(list_block, raw) -> bool:
        return isinstance(raw, list) and all(list_block._item_is_in_block_format(i) for i in raw)

    @property
    def bound_blocks(self):
        if self._bound is None:
            self._bound = self.list_block.to_python(self.raw).bound_blocks
        return self._bound

    @bound_blocks.setter
    def bound_blocks(self, value):
        self._bound = value

    def rules(self) -> list[tuple[VariantRule, int]]:
        """(rule, index) per variant, from the raw JSON (nothing converted)."""
        fields = self.list_block.child_block.child_blocks
        rules = []
        for index, item in enumerate(self.raw):
            value = item["value"]
            start, end = value.get("start"), value.get("end")
            rules.append(
                (
                    VariantRule(
                        id=str(item["id"]),
                        name=value.get("name") or "",
                        segments=tuple(str(s) for s in value.get("segments") or ()),
                        match=value.get("match") or ANY,
                        start=fields["start"].to_python(start) if start else None,
                        end=fields["end"].to_python(end) if end else None,
                    ),
                    index,
                )
            )
        return rules

    def content(self, index: int):
        """The content of variant ``index``: a lazy ``StreamValue`` of its raw JSON."""
        if self._bound is not None:
            return self._bound[index].value["content"]
        raw = self.raw[index]["value"].get("content")
        return self.list_block.child_block.child_blocks["content"].to_python(raw or [])


class CallToActionBlock(blocks.StructBlock):
    text = blocks.CharBlock(max_length=80)
    link = blocks.CharBlock(max_length=500, validators=[validate_link])
    style = blocks.ChoiceBlock(
        choices=[("primary", "Primary"), ("secondary", "Secondary")], default="primary"
    )

    class Meta:
        icon = "link"
        template = "personalization/blocks/call_to_action.html"


class VariantContentBlock(blocks.StreamBlock):
    """What a variant shows. Sites with their own blocks use ``PersonalizedBlock.for_content``."""

    heading = blocks.CharBlock(
        max_length=200, form_classname="title", template="personalization/blocks/heading.html"
    )
    paragraph = blocks.RichTextBlock(features=["bold", "italic", "link", "ol", "ul"])
    image = ImageChooserBlock()
    call_to_action = CallToActionBlock()


class VariantBlock(blocks.StructBlock):
    name = blocks.CharBlock(
        max_length=80, required=False, help_text="For editors and reports, e.g. 'Returning buyers'."
    )
    segments = SegmentChoiceBlock(
        choices=segment_choices,
        required=False,
        help_text="Who sees this variant. Leave empty for everyone (e.g. a scheduled promotion).",
    )
    match = blocks.ChoiceBlock(
        choices=[(ANY, "In any of these segments"), (ALL, "In all of these segments")],
        default=ANY,
    )
    start = blocks.DateTimeBlock(required=False, help_text="Shown from (optional).")
    end = blocks.DateTimeBlock(required=False, help_text="Shown until (optional).")
    content = VariantContentBlock()

    class Meta:
        icon = "group"
        label_format = "{name} → {segments}"
        form_classname = "pz-variant-block"

    def clean(self, value):
        value = super().clean(value)
        if value.get("start") and value.get("end") and value["end"] <= value["start"]:
            raise StructBlockValidationError(
                block_errors={"end": ValidationError("Must be after the start.")}
            )
        return value


def variant_rule(variant_id: str, value) -> VariantRule:
    return VariantRule(
        id=str(variant_id),
        name=value.get("name") or "",
        segments=tuple(value.get("segments") or ()),
        match=value.get("match") or ANY,
        start=value.get("start"),
        end=value.get("end"),
    )


class VariantsBlock(LazyContentMixin, blocks.StructBlock):
    """Variants targeted at segments, plus default content for everyone else.

    Chooses by segment rules only; ``personalization.blocks.PersonalizedBlock`` is this with
    experiments (an arm can decide which variant a placement shows)."""

    variants = blocks.ListBlock(
        VariantBlock(), label="Variants", help_text="The first variant that matches is shown."
    )
    fallback = VariantContentBlock(
        required=False, label="Default content", help_text="Shown when no variant matches."
    )

    class Meta:
        icon = "user"
        label = "Personalized content"
        label_format = "{variants}"

    @classmethod
    def for_content(cls, content_block: blocks.StreamBlock, **kwargs) -> VariantsBlock:
        """A personalized block whose variants hold the site's own blocks, e.g.
        ``PersonalizedBlock.for_content(CardBlocks())``. Don't nest a stream that itself
        contains this block."""
        variant = VariantBlock([("content", content_block)])
        args, options = content_block._constructor_args
        fallback = content_block.__class__(
            *args, **{**options, "required": False, "label": "Default content"}
        )
        return cls([("variants", blocks.ListBlock(variant)), ("fallback", fallback)], **kwargs)

    # -- deciding ---------------------------------------------------------------------------

    @staticmethod
    def variant_rules(value) -> list[tuple[VariantRule, object]]:
        """(rule, content) per variant, in editor order. For a stored value the contents are
        lazy: ``content_of(value, payload)`` gives the chosen one."""
        variants = value.get("variants")
        if isinstance(variants, LazyVariants) and variants._bound is None:
            return variants.rules()
        bound = variants.bound_blocks if variants is not None else []
        return [(variant_rule(child.id, child.value), child.value["content"]) for child in bound]

    @staticmethod
    def content_of(value, payload):
        """The content a choice's payload stands for (an index into lazy variants)."""
        if isinstance(payload, int):
            return value.get("variants").content(payload)
        return payload

    def choose(self, value, context: VisitorContext) -> Choice:
        choice = choose(
            self.variant_rules(value), context.segments, value.get("fallback"), now=context.now
        )
        return Choice(choice.rule, self.content_of(value, choice.payload), choice.reason)

    def choose_for(self, value, context: dict | None) -> Choice:
        request = (context or {}).get("request")
        return self.choose(value, visitor_context(request))

    # -- output -----------------------------------------------------------------------------

    def chosen(self, value, context: dict | None) -> tuple[Choice, dict]:
        """The visitor's choice for this block, and any keys its API representation adds.

        The one method that decides: rendering and the API both call it, so a subclass that
        decides otherwise (``PersonalizedBlock``: experiments) overrides only this."""
        return self.choose_for(value, context), {}

    def render(self, value, context=None):
        content = self.chosen(value, context)[0].payload
        if content is None:
            return ""
        return content.render_as_block(context)

    def get_api_representation(self, value, context=None):
        choice, extra = self.chosen(value, context)
        content = choice.payload
        return {
            "variant": choice.variant_id,
            "variant_name": choice.rule.name if choice.rule else "",
            "content": (
                content.stream_block.get_api_representation(content, context)
                if content is not None
                else []
            ),
            **extra,
        }

    def get_searchable_content(self, value):
        fallback = value.get("fallback")
        return fallback.stream_block.get_searchable_content(fallback) if fallback else []
