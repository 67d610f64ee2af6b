"""Render the bad-input matrix (tests/support/bad_inputs.py CASES) into docs/bad-inputs.md.

Run `.venv/bin/python -m tests.hardening.render_bad_inputs` from the repository root after changing the table; a test
fails while the committed file differs from this rendering, so the doc cannot drift from what is tested.
"""

from __future__ import annotations

import sys

from tests.support.bad_inputs import CASES, DOC_PATH, render
from tests.support.data import REPO_ROOT


def main() -> int:
    DOC_PATH.write_text(render(CASES), encoding="utf-8")
    sys.stderr.write(f"wrote {DOC_PATH.relative_to(REPO_ROOT)} ({len(CASES)} cases)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
