"""The built wheel runs every command: it carries the package data the commands need (the Kafka
launcher's files, the page, the default model) and none of the test support.

The wheel is built from this checkout and installed into a folder of its own; the checks run
from outside the checkout, so nothing can be found through the source tree.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DATA = (
    "streams/laptop/kafka/pom.xml",
    "streams/laptop/kafka/log4j.properties",
    "streams/laptop/kafka/server.properties.template",
    "streams/runtime/static/index.html",
    "scorers/default.toml",
)
# Names that exist only in tests/support: none may reach the wheel.
TEST_SUPPORT = ("fault_harness", "secure_servers", "start_secure_kafka", "start_tls_redis",
                "S3NT1NEL")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy of what the Dockerfile copies, so that no build/ folder left in the
    # checkout can add stale files to the wheel.
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in ("scorers", "streams"):
        shutil.copytree(ROOT / package, source / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(out), str(source)],
        capture_output=True, text=True, timeout=300, check=False, cwd=out,
    )
    assert done.returncode == 0, done.stderr
    (built,) = out.glob("relscore-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    target = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
         str(target), str(wheel)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    yield target


def run_installed(target: Path, code: str) -> str:
    """Run ``code`` with the installed wheel first on the path, from outside the checkout."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
        check=False, cwd=target.parent, env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_wheel_carries_the_package_data_and_no_test_support(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert [name for name in PACKAGE_DATA if name not in names] == []
        assert [name for name in names if name.startswith(("tests/", "bench/"))] == []
        leaks = [
            (name, word) for name in names if name.endswith(".py")
            for word in TEST_SUPPORT if word in archive.read(name).decode()
        ]
    assert leaks == [], f"test support in the wheel: {leaks}"


def test_the_installed_wheel_finds_its_launcher_files_page_and_model(installed: Path) -> None:
    out = run_installed(installed, "\n".join([
        "import streams, scorers.config as c",
        "from streams.laptop.stack import kafka_assets",
        "from streams.runtime.page import index_html",
        "print(streams.__file__)",
        "print(sorted(p.name for p in kafka_assets().iterdir()))",
        "print('<html' in index_html().lower(), c.load_config(None).scorer_version)",
    ]))
    where, assets, page = out.splitlines()
    assert where.startswith(str(installed)), f"imported from {where}, not the wheel"
    assert assets == "['log4j.properties', 'pom.xml', 'server.properties.template']"
    assert page.startswith("True ")


def test_the_installed_wheel_lists_every_command(installed: Path) -> None:
    out = run_installed(installed, "from streams.cli.main import build_parser\n"
                        "build_parser().print_help()")
    for command in ("worker", "project", "stack", "score", "produce", "tail", "demo",
                    "simulate", "customer"):
        assert command in out
