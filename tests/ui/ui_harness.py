"""Where the browser tests find chromium, how they launch it, where their screenshots go."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("REMGO_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Screenshots land here (git-ignored build/), for a person or CI to look at.
ARTIFACTS = Path(os.environ.get("REMGO_TEST_ARTIFACTS", ROOT / "build" / "test-artifacts" / "ui"))
