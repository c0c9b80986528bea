"""Every table's model: the kernel's, and each area's through its declaration.

`load_models()` imports them all so that SQLModel.metadata is complete (Alembic, the test
schema). This module imports no area itself.
"""

from portal.core.registry import load_models

__all__ = ["load_models"]
