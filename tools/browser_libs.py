"""Fetches the browser libraries (hls.js, SortableJS, uPlot, jsQR; axe-core for the tests) from the npm registry.

The libraries are not part of the repository: tools/browser_libs.lock.json
names each package with its exact version, the registry's tarball URL and the
registry's `dist.integrity` hash, and the files to take from the tarball.
This script downloads each tarball, refuses it unless it matches that hash,
and only then writes the named files into static/vendor/ (served as
/static/vendor/...). `make run` and `make test` run it once through `make deps`;
run it by hand with `python3 tools/browser_libs.py`. Standard library only, so
neither Node nor the virtualenv is needed.

To upgrade a library, put the new version, `dist.tarball` and
`dist.integrity` from https://registry.npmjs.org/<name>/<version> in the lock
file; the next `make deps` fetches it. Set NPM_REGISTRY to fetch the same
tarballs through a mirror (the hash still decides).
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCK = os.path.join(ROOT, "tools", "browser_libs.lock.json")
DEST = os.path.join(ROOT, "static", "vendor")
REGISTRY = "https://registry.npmjs.org"
MANIFEST = "browser-libs.json"      # what is installed, written last
MAX_TARBALL = 64 * 1024 * 1024      # hls.js is 8 MB; anything far larger is not what the lock means
TIMEOUT = 60
# Strongest first: with several hashes in one integrity string, the best one decides.
ALGORITHMS = ("sha512", "sha384", "sha256")


class SetupError(Exception):
    """A message for the person running the set-up."""


def read_lock(path: str = LOCK) -> list[dict]:
    try:
        with open(path, encoding="utf-8") as f:
            lock = json.load(f)
    except (OSError, ValueError) as exc:
        raise SetupError(f"cannot read the lock file {path}: {exc}") from None
    packages = lock.get("packages") if isinstance(lock, dict) else None
    if not isinstance(packages, list):
        raise SetupError(f"{path}: expected {{\"packages\": [...]}}")
    for p in packages:
        for key in ("name", "version", "tarball", "integrity", "files"):
            if not p.get(key):
                raise SetupError(f"{path}: a package lacks `{key}`")
        for target in p["files"].values():
            # Plain file names only: nothing written outside static/vendor/.
            if os.path.basename(target) != target or target in (".", "..", MANIFEST):
                raise SetupError(f"{path}: {p['name']}: bad target file name {target!r}")
    return packages


def parse_integrity(integrity: str) -> tuple[str, bytes]:
    """The strongest (algorithm, digest) of a Subresource-Integrity string such as `sha512-<base64>`."""
    found = {}
    for part in integrity.split():
        alg, _, value = part.partition("-")
        if alg in ALGORITHMS:
            try:
                found[alg] = base64.b64decode(value.split("?")[0], validate=True)
            except ValueError:
                continue
    for alg in ALGORITHMS:
        if alg in found:
            return alg, found[alg]
    raise SetupError(f"unsupported integrity {integrity!r} (expected sha512-...)")


def check_integrity(package: dict, data: bytes) -> None:
    alg, expected = parse_integrity(package["integrity"])
    actual = hashlib.new(alg, data).digest()
    if actual != expected:
        raise SetupError(
            f"{package['name']} {package['version']}: the downloaded tarball does not match the lock file "
            f"(expected {alg}-{base64.b64encode(expected).decode()}, got {alg}-{base64.b64encode(actual).decode()}). "
            "It may have been tampered with or damaged on the way; nothing was installed.")


def tarball_url(package: dict) -> str:
    url = package["tarball"]
    mirror = os.environ.get("NPM_REGISTRY", "").rstrip("/")
    if mirror and url.startswith(REGISTRY + "/"):
        url = mirror + url[len(REGISTRY):]
    return url


def download(url: str, timeout: float = TIMEOUT) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            data = resp.read(MAX_TARBALL + 1)
    except urllib.error.HTTPError as exc:
        raise SetupError(f"cannot download {url}: the registry answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SetupError(
            f"cannot download {url}: {reason}. The npm registry could not be reached: check the network "
            "(or set NPM_REGISTRY to a reachable mirror) and run `make deps` again.") from None
    if len(data) > MAX_TARBALL:
        raise SetupError(f"{url} is larger than {MAX_TARBALL // (1024 * 1024)} MB; refusing it")
    return data


def extract(package: dict, data: bytes) -> dict[str, bytes]:
    """The files the lock names, read from the (already verified) tarball."""
    out = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member_name, target in package["files"].items():
                try:
                    member = tar.getmember(member_name)
                except KeyError:
                    raise SetupError(f"{package['name']} {package['version']}: the tarball has no "
                                     f"{member_name}") from None
                if not member.isfile():
                    raise SetupError(f"{package['name']}: {member_name} is not a regular file")
                out[target] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise SetupError(f"{package['name']} {package['version']}: unreadable tarball: {exc}") from None
    return out


def installed(dest: str) -> dict:
    try:
        with open(os.path.join(dest, MANIFEST), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def up_to_date(package: dict, dest: str, manifest: dict) -> bool:
    have = manifest.get(package["name"]) or {}
    return (have.get("version") == package["version"] and have.get("integrity") == package["integrity"]
            and all(os.path.isfile(os.path.join(dest, t)) for t in package["files"].values()))


def write_atomically(path: str, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def install(packages: list[dict], dest: str = DEST, fetch=download, force: bool = False, log=print) -> list[str]:
    """Fetches, verifies and extracts every package not yet installed; returns the names installed.

    Every tarball is downloaded and checked before anything is written, so a
    refused one leaves static/vendor/ exactly as it was.
    """
    manifest = installed(dest)
    todo = [p for p in packages if force or not up_to_date(p, dest, manifest)]
    files: dict[str, bytes] = {}
    for p in todo:
        url = tarball_url(p)
        log(f"fetching {p['name']} {p['version']} from {url}")
        data = fetch(url)
        check_integrity(p, data)
        files.update(extract(p, data))
    if not todo:
        return []
    os.makedirs(dest, exist_ok=True)
    for target, content in files.items():
        write_atomically(os.path.join(dest, target), content)
    for p in todo:
        manifest[p["name"]] = {"version": p["version"], "integrity": p["integrity"],
                               "files": sorted(p["files"].values())}
    write_atomically(os.path.join(dest, MANIFEST), (json.dumps(manifest, indent=2) + "\n").encode())
    for p in todo:
        log(f"installed {p['name']} {p['version']} into {os.path.relpath(dest, ROOT)}/")
    return [p["name"] for p in todo]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lock", default=LOCK, help="lock file (default: tools/browser_libs.lock.json)")
    parser.add_argument("--dest", default=DEST, help="where the files go (default: static/vendor)")
    parser.add_argument("--force", action="store_true", help="fetch again even if installed")
    args = parser.parse_args(argv)
    try:
        install(read_lock(args.lock), args.dest, force=args.force)
    except SetupError as exc:
        print(f"browser_libs: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
