"""Where network weights come from: an explicit file, a configured directory, a cache, or a download.

Resolution order for :func:`weights_path`:

1. an explicit path given by the caller (``--inception-weights FILE``); it must exist;
2. ``$EVALSITE_WEIGHTS_DIR/<name>`` (offline machines: copy the files there);
3. the cache directory: ``$EVALSITE_CACHE_DIR`` or torch hub's checkpoints
   directory (``$TORCH_HOME/hub/checkpoints``, as pytorch-fid and torch-fidelity use);
4. a download into the cache (temporary file + rename, so a half-written file
   never carries the final name; sha256 checked before the rename). Refused when
   ``$EVALSITE_OFFLINE=1`` or ``$HF_HUB_OFFLINE=1``.

Checksums: ``WeightsSpec.sha256`` is either the full hex digest or a known prefix
(torch hub names carry the first 8 hex digits, e.g. ``6726825d``). Where only an MD5
is published (``WeightsSpec.md5``) that is checked instead; where none is known, the
file is accepted and its sha256 recorded in every result's provenance. Files found in
step 2 or 3 are verified too: a truncated or wrong file is an error that says so,
rather than a network that silently computes different numbers.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

FETCH_COMMAND = "python -m metrics fetch-weights"


class WeightsMissingError(RuntimeError):
    """Weights are not on this machine and cannot (or may not) be downloaded."""


class WeightsChecksumError(RuntimeError):
    """A weights file does not have the sha256 its spec expects."""


@dataclass(frozen=True)
class WeightsSpec:
    """One known weights file: its file name, where to get it and its checksum."""

    name: str
    urls: tuple[str, ...]
    sha256: str  # full digest or known prefix; "" when no sha256 is published
    description: str = ""
    md5: str = ""  # checked when no sha256 is known (some authors publish only an MD5)

    @property
    def checksum(self) -> str:
        """How the file is verified, for messages: ``sha256 <prefix>``, ``md5 <digest>`` or none."""
        if self.sha256:
            return f"sha256 {self.sha256[:16]}"
        return f"md5 {self.md5}" if self.md5 else "no published checksum"


REGISTRY: dict[str, WeightsSpec] = {}


def register(spec: WeightsSpec) -> WeightsSpec:
    """Add ``spec`` to :data:`REGISTRY` (what ``fetch-weights`` fetches); returns it."""
    existing = REGISTRY.get(spec.name)
    if existing is not None and existing != spec:
        raise ValueError(f"weights {spec.name!r} registered twice with different specs")
    REGISTRY[spec.name] = spec
    return spec


# The TF-ported FID Inception (2015-12-05 graph). pytorch-fid's file name is ours; torch-fidelity's
# file holds the same tensors under the same keys, so it is accepted as a second URL.
FID_INCEPTION = register(
    WeightsSpec(
        name="pt_inception-2015-12-05-6726825d.pth",
        urls=(
            "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
            "pt_inception-2015-12-05-6726825d.pth",
            # torch-fidelity re-hosts the same file (same torch hub hash suffix); the checksum
            # check below is what makes a mirror safe.
            "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
            "weights-inception-2015-12-05-6726825d.pth",
        ),
        sha256="6726825d",
        description="FID Inception v3 ported from TensorFlow's 2015-12-05 graph (pytorch-fid)",
    )
)


# ----------------------------------------------------------------------------- checksums

_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """The sha256 hex digest of a file (cached per path, mtime and size)."""
    path = Path(path).resolve()
    key = _sha_key(path)
    digest = _SHA_CACHE.get(key)
    if digest is None:
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        digest = h.hexdigest()
        _SHA_CACHE[key] = digest
    return digest


def _sha_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path), st.st_mtime_ns, st.st_size)


def checksum_matches(digest: str, expected: str) -> bool:
    """True when ``digest`` equals ``expected`` or starts with it (a known prefix)."""
    expected = expected.lower()
    return bool(expected) and digest.lower().startswith(expected)


def file_md5(path: str | Path) -> str:
    """The MD5 hex digest of a file (only for specs whose authors publish nothing better)."""
    h = hashlib.md5(usedforsecurity=False)
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _digests_match(spec: WeightsSpec, sha256: str, md5: str | None) -> bool:
    if spec.sha256:
        return checksum_matches(sha256, spec.sha256)
    if spec.md5:
        return md5 is not None and md5.lower() == spec.md5.lower()
    return True  # nothing published to check against; the sha256 is recorded instead


def verify(spec: WeightsSpec, path: Path) -> str:
    """Check ``path`` against the spec's checksum; return its sha256 or raise WeightsChecksumError."""
    digest = file_sha256(path)
    md5 = file_md5(path) if (spec.md5 and not spec.sha256) else None
    if not _digests_match(spec, digest, md5):
        if spec.sha256:
            got, want = f"sha256 {digest[:16]}...", f"start with {spec.sha256[:16]}"
        else:
            got, want = f"md5 {md5}", f"have md5 {spec.md5}"
        raise WeightsChecksumError(
            f"{path} has {got}, but {spec.name} must {want}: the file is "
            f"truncated or not the right weights. Delete it and run `{FETCH_COMMAND}`, or pass "
            "the right file explicitly."
        )
    return digest


# ----------------------------------------------------------------------------- locations


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def offline() -> bool:
    """True when downloads are forbidden ($EVALSITE_OFFLINE or $HF_HUB_OFFLINE set)."""
    return _truthy(os.environ.get("EVALSITE_OFFLINE")) or _truthy(os.environ.get("HF_HUB_OFFLINE"))


def cache_dir() -> Path:
    """Where downloads go: $EVALSITE_CACHE_DIR, else torch hub's checkpoints directory."""
    configured = os.environ.get("EVALSITE_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    torch_home = os.environ.get("TORCH_HOME")
    if torch_home:
        return Path(torch_home).expanduser() / "hub" / "checkpoints"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "torch" / "hub" / "checkpoints"


def candidate_paths(spec: WeightsSpec) -> list[Path]:
    """The places :func:`weights_path` looks for ``spec`` (before downloading), in order."""
    places = []
    weights_dir = os.environ.get("EVALSITE_WEIGHTS_DIR")
    if weights_dir:
        places.append(Path(weights_dir).expanduser() / spec.name)
    places.append(cache_dir() / spec.name)
    return places


def _missing_message(spec: WeightsSpec, why: str) -> str:
    where = " or ".join(str(p) for p in candidate_paths(spec))
    return (
        f"weights file {spec.name} ({spec.description or 'network weights'}) not found: {why}. "
        f"Put the file at {where} (or set EVALSITE_WEIGHTS_DIR to a directory holding it, or pass "
        f"the file explicitly), or fetch it on a machine with internet with `{FETCH_COMMAND}`."
    )


# ----------------------------------------------------------------------------- download

Opener = Callable[[str], object]  # url -> a file-like object with read(n)


def _default_opener(url: str):
    request = urllib.request.Request(url, headers={"User-Agent": "evalsite"})
    return urllib.request.urlopen(request, timeout=60)  # noqa: S310 (URLs come from the registry)


def download(
    spec: WeightsSpec,
    dest_dir: Path | None = None,
    *,
    opener: Opener | None = None,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Download ``spec`` into ``dest_dir`` (default: the cache), verify it, and return its path.

    The bytes go to a temporary file in the same directory and are renamed only
    after the checksum matched, so a crash or a bad mirror never leaves a file
    under the final name.
    """
    if offline():
        raise WeightsMissingError(_missing_message(spec, "downloads are off (offline mode)"))
    dest_dir = Path(dest_dir) if dest_dir is not None else cache_dir()
    dest_dir.mkdir(parents=True, exist_ok=True)
    opener = opener or _default_opener
    errors = []
    for url in spec.urls:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.name}.", suffix=".part", dir=dest_dir)
        tmp = Path(tmp_name)
        try:
            h = hashlib.sha256()
            h_md5 = hashlib.md5(usedforsecurity=False)
            with os.fdopen(fd, "wb") as out:
                src = opener(url)
                try:
                    while True:
                        block = src.read(1 << 20)
                        if not block:
                            break
                        h.update(block)
                        h_md5.update(block)
                        out.write(block)
                        if progress is not None:
                            progress(len(block))
                finally:
                    close = getattr(src, "close", None)
                    if close is not None:
                        close()
            digest = h.hexdigest()
            if not _digests_match(spec, digest, h_md5.hexdigest()):
                raise WeightsChecksumError(
                    f"download of {spec.name} from {url} has sha256 {digest[:16]}... (md5 "
                    f"{h_md5.hexdigest()}), expected {spec.checksum}; the file was not kept"
                )
            final = dest_dir / spec.name
            os.replace(tmp, final)
            # Hashed on the way in: file_sha256 of the new file need not read it again.
            _SHA_CACHE[_sha_key(final.resolve())] = digest
            return final
        except WeightsChecksumError as exc:
            errors.append(str(exc))
        except Exception as exc:  # network errors of every kind: try the next mirror
            errors.append(f"{url}: {exc}")
        finally:
            if tmp.exists():
                tmp.unlink()
    if errors and all("sha256" in e for e in errors):
        raise WeightsChecksumError("; ".join(errors))
    raise WeightsMissingError(_missing_message(spec, "download failed (" + "; ".join(errors) + ")"))


def weights_path(
    spec: WeightsSpec,
    explicit: str | Path | None = None,
    *,
    download: bool | None = None,
    opener: Opener | None = None,
) -> Path:
    """Find (or download) the weights file for ``spec`` and return its verified path.

    ``download=None`` downloads unless offline mode is set; ``False`` never downloads.
    An explicit path must exist; its content is the caller's choice (a re-saved or
    torch-fidelity copy has another digest) and is not checked against the spec:
    its full sha256 goes into every result's provenance instead.
    """
    if explicit is not None and str(explicit) != "":
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise WeightsMissingError(
                f"weights file {path} does not exist (given explicitly for {spec.name}); "
                f"check the path, or leave it out to use {spec.name} from the cache "
                f"(`{FETCH_COMMAND}` fetches it)"
            )
        return path
    for place in candidate_paths(spec):
        if place.is_file():
            verify(spec, place)
            return place
    if download is False or (download is None and offline()):
        why = "offline mode is on" if offline() else "downloading was not allowed"
        raise WeightsMissingError(_missing_message(spec, why))
    return _download(spec, opener=opener)


_download = download  # weights_path's keyword `download` shadows the function name inside it


def install_local(spec: WeightsSpec, src: str | Path, dest_dir: Path | None = None) -> Path:
    """Copy a local file into ``dest_dir`` (default: the cache) under ``spec.name``, verified, atomic."""
    src = Path(src)
    verify(spec, src)
    dest_dir = Path(dest_dir) if dest_dir is not None else cache_dir()
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.name}.", suffix=".part", dir=dest_dir)
    os.close(fd)
    shutil.copyfile(src, tmp_name)
    final = dest_dir / spec.name
    os.replace(tmp_name, final)
    return final
