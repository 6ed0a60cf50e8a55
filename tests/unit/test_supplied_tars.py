"""User-supplied packages are inspected on the control machine before anything reaches a node."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from roles.artifacts import ArtifactCache, supplied
from roles.errors import ArtifactMissing

pytestmark = pytest.mark.unit


def _tar(path: Path, members: list[tarfile.TarInfo]) -> str:
    with tarfile.open(path, "w:gz") as tar:
        for m in members:
            tar.addfile(m, io.BytesIO(b"x" * m.size) if m.isfile() else None)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _file(name: str, mode: int = 0o755) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode = 1, mode
    return info


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def _device(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.CHRTYPE
    return info


BAD = [
    ("dot-dot member", [_file("usr/../../etc/cron.d/x")], "usr/../../etc/cron.d/x"),
    ("absolute member", [_file("/etc/passwd")], "/etc/passwd"),
    ("symlink out of the tree", [_link("usr/lib/evil", "../../../../etc/shadow")], "usr/lib/evil"),
    ("absolute symlink", [_link("usr/lib/evil", "/etc/shadow")], "usr/lib/evil"),
    ("device file", [_device("usr/dev/sda")], "usr/dev/sda"),
]


@pytest.mark.parametrize(("what", "members", "named"), BAD, ids=[b[0] for b in BAD])
def test_escaping_members_are_refused_naming_the_member(
    tmp_path: Path, what: str, members: list[tarfile.TarInfo], named: str
) -> None:
    src = tmp_path / "mesos.tar.gz"
    sha = _tar(src, [_file("usr/sbin/mesos-master"), *members])
    cache = ArtifactCache(tmp_path / "cache")
    with pytest.raises(ArtifactMissing) as err:
        supplied(
            cache, "mesos", str(src), sha, "artifacts.mesosPackageSource", "artifacts.mesosPackageSha256"
        )
    assert named.lstrip("/") in str(err.value) and "artifacts.mesosPackageSource" in str(err.value), what
    assert "before any node" in str(err.value)
    assert not list((tmp_path / "cache").glob("mesos-*")), "nothing refused may stay in the cache"


def test_setuid_bits_are_stripped_and_good_members_kept(tmp_path: Path) -> None:
    src = tmp_path / "mesos.tar.gz"
    sha = _tar(src, [_file("usr/sbin/mesos-master", 0o4755), _file("usr/lib/libmesos.so", 0o644)])
    art = supplied(ArtifactCache(tmp_path / "cache"), "mesos", str(src), sha, "artifacts.x", "artifacts.y")
    with tarfile.open(art.path) as tar:
        modes = {m.name: m.mode for m in tar.getmembers()}
    assert modes == {"usr/sbin/mesos-master": 0o755, "usr/lib/libmesos.so": 0o644}
    assert art.sha256 == hashlib.sha256(art.path.read_bytes()).hexdigest() != sha
    src.unlink()  # a re-run finds the sanitized copy by the configured checksum: no second copy
    again = supplied(ArtifactCache(tmp_path / "cache"), "mesos", str(src), sha, "artifacts.x", "artifacts.y")
    assert again == art


def test_credentials_in_a_source_url_are_never_echoed(tmp_path: Path) -> None:
    with pytest.raises(ArtifactMissing) as err:
        supplied(
            ArtifactCache(tmp_path / "cache"),
            "mesos",
            "http://admin:s3cret@127.0.0.1:9/mesos.tar.gz",
            "ab" * 32,
            "artifacts.mesosPackageSource",
            "artifacts.mesosPackageSha256",
        )
    assert "s3cret" not in str(err.value) and "***@127.0.0.1" in str(err.value)


def test_a_clean_tar_with_links_and_dirs_is_kept_byte_for_byte(tmp_path: Path) -> None:
    src = tmp_path / "marathon.tar.gz"
    folder = tarfile.TarInfo("marathon-1.11/bin")
    folder.type, folder.mode = tarfile.DIRTYPE, 0o755
    sha = _tar(src, [folder, _file("marathon-1.11/bin/marathon"), _link("marathon-1.11/m", "bin/marathon")])
    art = supplied(ArtifactCache(tmp_path / "cache"), "marathon", str(src), sha, "artifacts.x", "artifacts.y")
    assert art.sha256 == sha
