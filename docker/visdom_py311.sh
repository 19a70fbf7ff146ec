#!/bin/sh
# Installs visdom 0.2.4 into the environment of PYTHON when that Python is 3.11; nothing on 3.12+.
#   sh docker/visdom_py311.sh PYTHON      (`make install` and the Dockerfile's trainer and monitor)
#
# visdom 0.3 needs Python >= 3.12. 0.2.4, the last release for 3.11, ships only as a source package
# whose setup.py imports pkg_resources, which setuptools 81 dropped; pip's isolated build gets the
# newest setuptools and fails. So it is built without isolation against the environment's own
# setuptools, held below 81 (and at least 70.1, the first that builds wheels without the `wheel`
# package: a fresh 3.11 venv has 65), before pyproject.toml's train extra finds it installed.
set -eu
"$1" -m pip install "setuptools>=70.1,<81; python_version < '3.12'"
"$1" -m pip install --no-build-isolation "visdom>=0.2.4,<0.3; python_version < '3.12'"
