"""`mw --help` stays fast: no heavy library is imported on the CLI path."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("pandas", "numpy", "sklearn", "sqlalchemy", "pyarrow", "scipy", "rich")


def test_help_imports_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "from modelward.cli.main import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('loaded:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "loaded:"


def test_help_lists_the_commands() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "modelward", "--help"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0
    for command in ("data", "demo", "init"):
        assert command in out.stdout
