"""Domain knowledge: the improvement catalog and its checks, which diagnosis calls for which improvement,
and the lint that warns about the journey map itself."""

from rules.catalog import PAIN_POINTS, validate_catalog
from rules.lint import lint_export
from rules.triggers import candidates_for

__all__ = ["PAIN_POINTS", "candidates_for", "lint_export", "validate_catalog"]
