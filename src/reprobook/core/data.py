"""External data sets through manifests (ARCHITECTURE §5).

``data/manifests/<name>.yaml`` describes one data set::

    title: Azure LLM inference trace 2023
    licence: CC BY 4.0
    citation: Patel et al., Splitwise, ISCA 2024
    homepage: https://github.com/Azure/AzurePublicDataset
    files:
      - name: AzureLLMInferenceTrace_code.csv
        url: https://.../AzureLLMInferenceTrace_code.csv
        sha256: 54e9a6d2...
        size: 320117

:func:`fetch` looks for each file in ``data/cache/<name>/``, then in ``$REPROBOOK_DATA_MIRROR/<name>/``
(used in place, never copied into the repository), then downloads it into the cache with pooch
(progress bar, sha256 checked before the file is kept). Every file is checked against its size and
sha256. Offline without a mirror, or on a checksum mismatch, it raises :class:`DataError` saying
what to download and where to put it.

Why the book keeps its own manifests around pooch: a manifest carries the licence and citation the
chapters print, and the mirror is read *in place* (pooch would copy it into its cache); pooch does
the download and the hashing.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import DataError, DataUnavailable
from .paths import cache_root, repo_root
from .yamlio import check_keys, read_yaml_mapping

MIRROR_ENV = "REPROBOOK_DATA_MIRROR"


@dataclass(frozen=True)
class DataFile:
    name: str
    url: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    name: str
    path: Path
    title: str
    licence: str
    citation: str
    homepage: str
    files: tuple[DataFile, ...]

    def file(self, name: str | None) -> DataFile:
        if name is None:
            if len(self.files) != 1:
                raise DataError(f"{self.path}: data set {self.name!r} has {len(self.files)} files; "
                                f"name one of {[f.name for f in self.files]}")
            return self.files[0]
        for f in self.files:
            if f.name == name:
                return f
        raise DataError(f"{self.path}: no file {name!r} in data set {self.name!r}; "
                        f"files: {[f.name for f in self.files]}")


def manifest_dir(root: Path | None = None) -> Path:
    return (root or repo_root()) / "data" / "manifests"


def load_manifest(name: str, root: Path | None = None) -> Manifest:
    """Read and validate ``data/manifests/<name>.yaml``."""
    path = manifest_dir(root) / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in manifest_dir(root).glob("*.yaml"))
        raise DataError(f"{path}: no manifest for data set {name!r}; known: {known}")
    data = read_yaml_mapping(path, DataError)
    check_keys(path, data, {"title", "licence", "citation", "homepage", "files", "description"},
               DataError)
    for key in ("title", "licence", "citation", "files"):
        if not data.get(key):
            raise DataError(f"{path}: {key!r} is required")
    files = []
    for i, f in enumerate(data["files"]):
        if not isinstance(f, dict):
            raise DataError(f"{path}: files[{i}] must be a mapping")
        check_keys(path, f, {"name", "url", "sha256", "size"}, DataError, f"files[{i}]")
        missing = {"name", "url", "sha256", "size"} - set(f)
        if missing:
            raise DataError(f"{path}: files[{i}] lacks {sorted(missing)}")
        if not isinstance(f["sha256"], str):
            raise DataError(f"{path}: files[{i}].sha256 must be a quoted string (YAML read "
                            f"{f['sha256']!r}, a {type(f['sha256']).__name__})")
        sha = f["sha256"].lower()
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise DataError(f"{path}: files[{i}].sha256 is not a 64-digit hex digest")
        files.append(DataFile(name=str(f["name"]), url=str(f["url"]), sha256=sha,
                              size=int(f["size"])))
    return Manifest(name=name, path=path, title=str(data["title"]), licence=str(data["licence"]),
                    citation=str(data["citation"]), homepage=str(data.get("homepage", "")),
                    files=tuple(files))


def sha256_of(path: Path) -> str:
    import pooch

    return pooch.file_hash(str(path), alg="sha256")


def verify(path: Path, spec: DataFile) -> None:
    """Raise :class:`DataError` if ``path`` has the wrong size (truncated) or sha256."""
    size = path.stat().st_size
    if size != spec.size:
        raise DataError(f"{path}: {size} bytes, the manifest expects {spec.size} "
                        f"({'truncated' if size < spec.size else 'too long'}); "
                        f"delete it and fetch {spec.url} again")
    digest = sha256_of(path)
    if digest != spec.sha256:
        raise DataError(f"{path}: sha256 {digest} does not match the manifest's {spec.sha256}; "
                        f"the file is corrupt or a different version: delete it and fetch "
                        f"{spec.url} again")


def _download(spec: DataFile, dest: Path) -> None:
    """Download ``spec`` to ``dest`` with pooch; nothing is kept unless the sha256 matches."""
    import pooch

    dest.parent.mkdir(parents=True, exist_ok=True)
    pooch.retrieve(spec.url, known_hash=f"sha256:{spec.sha256}", fname=dest.name,
                   path=dest.parent, progressbar=sys.stderr.isatty())


def fetch(name: str, file: str | None = None, *, root: Path | None = None,
          allow_download: bool = True) -> Path:
    """Path to a verified local copy of one file of data set ``name`` (cache, mirror, download)."""
    manifest = load_manifest(name, root)
    spec = manifest.file(file)
    cached = cache_root() / name / spec.name
    if cached.is_file():
        verify(cached, spec)
        return cached
    mirror = os.environ.get(MIRROR_ENV)
    if mirror:
        for candidate in (Path(mirror) / name / spec.name, Path(mirror) / spec.name):
            if candidate.is_file():
                verify(candidate, spec)
                return candidate
    reason = "downloads disabled"
    if allow_download:
        try:
            _download(spec, cached)
        except ValueError as exc:  # pooch: the downloaded file's hash does not match
            raise DataError(f"{spec.url}: the downloaded file's sha256 does not match the "
                            f"manifest's {spec.sha256} ({manifest.path}); nothing was kept. "
                            f"({exc})") from exc
        except Exception as exc:  # noqa: BLE001 - requests/urllib/OS errors: offline, refused
            reason = f"download failed: {type(exc).__name__}: {exc}"
        else:
            verify(cached, spec)
            return cached
    where_mirror = (f"not in the mirror {mirror}/{name}/" if mirror
                    else f"${MIRROR_ENV} is not set")
    raise DataUnavailable(
        f"data set {name!r} ({manifest.path}): file {spec.name!r} is not in {cached.parent}/, "
        f"{where_mirror}, and {reason}. Download {spec.url} ({spec.size} bytes, sha256 "
        f"{spec.sha256}) and put it at {cached}, or point {MIRROR_ENV} at a folder holding "
        f"{name}/{spec.name}. Licence: {manifest.licence}.")


def fetch_all(name: str, *, root: Path | None = None, allow_download: bool = True) -> dict[str, Path]:
    """Every file of data set ``name``: ``{file name: verified path}``."""
    manifest = load_manifest(name, root)
    return {f.name: fetch(name, f.name, root=root, allow_download=allow_download)
            for f in manifest.files}
