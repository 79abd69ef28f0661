"""Self-tests of the YAML runner (no tern needed): make ``esyaml`` and ``runner`` importable."""

from __future__ import annotations

import os
import sys

YAML_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if YAML_DIR not in sys.path:
    sys.path.insert(0, YAML_DIR)
