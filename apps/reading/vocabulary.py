"""The reading vocabulary (SPEC.md, "Reading vocabulary"): one definition for rules, APIs, exports."""

from __future__ import annotations

BREAST_BIRADS = (0, 1, 2, 3, 4, 5)
DENSITIES = ("A", "B", "C", "D")
FINDING_BIRADS = (3, 4, 5)
LATERALITIES = ("R", "L")

FINDING_CATEGORIES = (
    "Mass",
    "Suspicious Calcification",
    "Asymmetry",
    "Focal Asymmetry",
    "Global Asymmetry",
    "Architectural Distortion",
    "Suspicious Lymph Node",
    "Skin Thickening",
    "Skin Retraction",
    "Nipple Retraction",
)

# A box with any of these is a lesion that needs a finding BI-RADS (3-5); a box with only the
# associated features (skin, nipple, lymph node) must have none (SPEC.md).
CATEGORIES_REQUIRING_BIRADS = frozenset({
    "Mass",
    "Suspicious Calcification",
    "Asymmetry",
    "Focal Asymmetry",
    "Global Asymmetry",
    "Architectural Distortion",
})


def finding_birads_required(categories: list[str] | tuple[str, ...]) -> bool:
    return any(category in CATEGORIES_REQUIRING_BIRADS for category in categories)
