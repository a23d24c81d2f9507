"""The README's commands are the ones CI and users run."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_ci_runs_the_readme_test_command():
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        ci = f.read()
    command = re.search(r"TEST_COMMAND='([^']*)'", ci).group(1)
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    assert f"\n{command}\n" in readme
    assert "eie demo\n" in readme
