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


class LazyContentMixin:
    """``bulk_to_python`` that leaves stream children lazy.

    Wagtail's ``StructBlock.bulk_to_python`` converts every child in bulk, and a
    ``StreamBlock``'s bulk conversion is eager: every variant's content (rich text, images)
    would be converted from JSON though one variant is shown. A stream child's ``to_python``
    is lazy instead (it converts on iteration), and the other children here are plain values.
    """

    def bulk_to_python(self, values):
        return [self.lazy_to_python(value) for value in values]

    def lazy_to_python(self, value):
        items = []
        for name, child in self.child_blocks.items():
            if name not in value:
                items.append((name, child.get_default()))
            elif name == "match" and value[name] in (ANY, ALL):
                items.append((name, value[name]))  # ChoiceBlock's own check is the slow part
            else:
                items.append((name, child.to_python(value[name])))
        return self._to_struct_value(items)


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


class VariantBlock(LazyContentMixin, blocks.StructBlock):
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
        """(rule, content) per variant, in editor order; the content is not converted yet."""
        variants = value.get("variants")
        bound = variants.bound_blocks if variants is not None else []
        return [(variant_rule(child.id, child.value), child.value["content"]) for child in bound]

    def choose(self, value, context: VisitorContext) -> Choice:
        return choose(
            self.variant_rules(value), context.segments, value.get("fallback"), now=context.now
        )

    def choose_for(self, value, context: dict | None) -> Choice:
        request = (context or {}).get("request")
        return self.choose(value, visitor_context(request))

    # -- output -----------------------------------------------------------------------------

    def render(self, value, context=None):
        content = self.choose_for(value, context).payload
        if content is None:
            return ""
        return content.render_as_block(context)

    def get_api_representation(self, value, context=None):
        choice = self.choose_for(value, context)
        content = choice.payload
        return {
            "variant": choice.variant_id,
            "variant_name": choice.rule.name if choice.rule else "",
            "content": (
                content.stream_block.get_api_representation(content, context)
                if content is not None
                else []
            ),
        }

    def get_searchable_content(self, value):
        fallback = value.get("fallback")
        return fallback.stream_block.get_searchable_content(fallback) if fallback else []
