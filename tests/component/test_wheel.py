"""The built wheel works outside the repository: the SDK, its schemas, catalogues and topics.yaml ship in it.

The wheel is built from a copy of the sources (symlinks followed, as a source distribution would
carry them), installed into a folder of its own, and imported by a Python that sees that folder and
the dependencies only: no site processing, so not the editable install that points at the checkout.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from dancu_bus.catalogues import Catalogue, packaged_view
from dancu_bus.codec import load_schemas
from dancu_bus.operations import OPERATIONS
from dancu_bus.topics import load_topics

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]

# Run by the installed package, from a folder outside the repository.
_USE = """
import json, sys
from datetime import UTC, datetime
from dancu_bus.catalogues import Catalogue, packaged_view
from dancu_bus.operations import platform_codec
from dancu_bus.sdk import Context, VerifyQuery
from dancu_bus.sdk.requests import build_request
from dancu_bus.topics import packaged_topics
import dancu_bus

codec = platform_codec()
kyc = Context("officer-7", "HS-2026-001", "KYC", "Luật Phòng, chống rửa tiền 2022, Điều 9")
query = VerifyQuery("001090012345", full_name="Nguyễn Văn An")
request = build_request("demo-bank", kyc, query, 60, now=datetime(2026, 1, 1, tzinfo=UTC))
decoded = codec.decode_request(codec.encode_request(request))
print(json.dumps({
    "package": dancu_bus.__file__,
    "path": sys.path,
    "roundtrip": decoded == request,
    "schemas": len(codec.schemas.names()),
    "topics": [t.name for t in packaged_topics().topics],
    "communes": packaged_view().count(Catalogue.COMMUNE),
    "dev_loaded": any(m.startswith("dancu_bus.dev") for m in sys.modules),
}))
"""


def _sources(into: Path) -> Path:
    """The files a wheel is built from, copied with their symlinks (schemas, topics.yaml) resolved."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, into / name)
    shutil.copytree(REPO / "adapters", into / "adapters", symlinks=False, ignore=ignore)
    return into


def _run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a command; its output, or a failure with what it said."""
    done = subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"{command[:3]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_installed_wheel_encodes_a_request_and_reads_its_data_outside_the_repository(
    tmp_path: Path,
) -> None:
    """From a folder outside the repository, the wheel alone gives the SDK, schemas, catalogues and topics."""
    source, dist, site, elsewhere = (tmp_path / name for name in ("src", "dist", "site", "elsewhere"))
    for folder in (source, dist, site, elsewhere):
        folder.mkdir()
    pip = (sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input")
    _run(*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", dist, _sources(source), cwd=tmp_path)
    (wheel,) = dist.glob("dancu_bus-*.whl")
    _run(*pip, "install", "--no-deps", "--no-index", "--target", site, wheel, cwd=tmp_path)
    # -S: no site processing, so neither the editable install's .pth nor the repository is on the path.
    dependencies = sysconfig.get_paths()["purelib"]
    env = {"PYTHONPATH": f"{site}:{dependencies}", "PATH": "/usr/bin:/bin", "PYTHONSAFEPATH": "1"}
    used = json.loads(_run(sys.executable, "-S", "-c", _USE, cwd=elsewhere, env=env))
    assert Path(used["package"]).is_relative_to(site)
    # The dependencies' folder is the checkout's .venv here; the sources must not be reachable.
    assert not any(Path(entry).resolve() in (REPO, REPO / "adapters") for entry in used["path"] if entry)
    assert used["roundtrip"] and not used["dev_loaded"]
    assert used["schemas"] == len(load_schemas(OPERATIONS, REPO / "schemas").names())
    assert used["topics"] == [t.name for t in load_topics(REPO / "topics.yaml").topics]
    assert used["communes"] == packaged_view().count(Catalogue.COMMUNE) > 0
