"""Print the requirements of pyproject.toml's optional extras, one per line, for `pip install -r`.

The images install their dependencies from these lines before the code is copied in, so a code
change does not reinstall them, and the pins stay in one place (pyproject.toml).

    python3 requirements.py pyproject.toml serve [--replace onnxruntime=onnxruntime-gpu]
"""
from __future__ import annotations

import argparse
import re
import tomllib


def requirements(pyproject: str, extras: list[str], replace: dict[str, str]) -> list[str]:
    """The extras' requirement strings, in order, without duplicates; a name in `replace` is
    swapped for another distribution with the same version range (onnxruntime -> onnxruntime-gpu)."""
    with open(pyproject, "rb") as f:
        optional = tomllib.load(f)["project"]["optional-dependencies"]
    lines: list[str] = []
    for extra in extras:
        for req in optional[extra]:
            name = re.match(r"[A-Za-z0-9._-]+", req).group(0)
            if name.lower() in replace:
                req = replace[name.lower()] + req[len(name):]
            if req not in lines:
                lines.append(req)
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("pyproject")
    p.add_argument("extras", nargs="+")
    p.add_argument("--replace", action="append", default=[], metavar="OLD=NEW",
                   help="install NEW in place of OLD, same version range")
    a = p.parse_args()
    replace = dict(item.lower().split("=", 1) for item in a.replace)
    print("\n".join(requirements(a.pyproject, a.extras, replace)))


if __name__ == "__main__":
    main()
