"""The StreamField blocks a host site puts in its pages: ``from personalization.blocks import
PersonalizedBlock``. The variants' definitions live with the variants; this package adds what
needs the decision layer (experiments on a page's block)."""

from ..recommendations.blocks import RecommendationsBlock
from ..variants.blocks import CallToActionBlock, VariantBlock, VariantContentBlock
from .personalized import PersonalizedBlock

__all__ = [
    "CallToActionBlock",
    "PersonalizedBlock",
    "RecommendationsBlock",
    "VariantBlock",
    "VariantContentBlock",
]
