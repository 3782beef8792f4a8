"""The StreamField blocks a host site puts in its pages: ``from personalization.blocks import
PersonalizedBlock``. They live with the variants they choose between."""

from .recommendations.blocks import RecommendationsBlock
from .variants.blocks import (
    CallToActionBlock,
    PersonalizedBlock,
    VariantBlock,
    VariantContentBlock,
)

__all__ = [
    "CallToActionBlock",
    "PersonalizedBlock",
    "RecommendationsBlock",
    "VariantBlock",
    "VariantContentBlock",
]
