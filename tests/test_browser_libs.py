"""The set-up script that fetches hls.js: only a tarball matching the lock file is installed."""
import base64
import hashlib
import io
import json
import os
import socket
import tarfile

import pytest

from tools import browser_libs


def tarball(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


GOOD = tarball({"package/dist/hls.min.js": b"/* hls */ var Hls = 1;", "package/LICENSE": b"Apache-2.0",
                "package/README.md": b"not wanted"})


def package(data=GOOD, **overrides):
    p = {"name": "hls.js", "version": "1.7.4", "tarball": "https://registry.npmjs.org/hls.js/-/hls.js-1.7.4.tgz",
         "integrity": integrity(data),
         "files": {"package/dist/hls.min.js": "hls.min.js", "package/LICENSE": "hls.js.LICENSE.txt"}}
    p.update(overrides)
    return p


def snapshot(path):
    if not os.path.isdir(path):
        return None
    return {name: open(os.path.join(path, name), "rb").read() for name in sorted(os.listdir(path))}


def test_a_matching_tarball_installs_only_the_named_files(tmp_path):
    dest = tmp_path / "vendor"
    fetched = []
    names = browser_libs.install([package()], str(dest), fetch=lambda url: fetched.append(url) or GOOD,
                                 log=lambda *_: None)
    assert names == ["hls.js"] and fetched == ["https://registry.npmjs.org/hls.js/-/hls.js-1.7.4.tgz"]
    assert (dest / "hls.min.js").read_bytes() == b"/* hls */ var Hls = 1;"
    assert (dest / "hls.js.LICENSE.txt").read_bytes() == b"Apache-2.0"
    assert sorted(os.listdir(dest)) == ["browser-libs.json", "hls.js.LICENSE.txt", "hls.min.js"]
    assert json.loads((dest / "browser-libs.json").read_text())["hls.js"]["version"] == "1.7.4"
    # Once installed, nothing is fetched again until the lock changes.
    assert browser_libs.install([package()], str(dest), fetch=lambda url: pytest.fail("fetched again"),
                                log=lambda *_: None) == []
    newer = package(version="1.7.5")
    assert browser_libs.install([newer], str(dest), fetch=lambda url: GOOD, log=lambda *_: None) == ["hls.js"]


@pytest.mark.parametrize("installed_before", [False, True])
def test_a_tampered_tarball_is_refused_and_nothing_is_written(tmp_path, installed_before):
    dest = tmp_path / "vendor"
    if installed_before:
        browser_libs.install([package()], str(dest), fetch=lambda url: GOOD, log=lambda *_: None)
    before = snapshot(dest)
    tampered = tarball({"package/dist/hls.min.js": b"/* hls */ var Hls = 1; stealCookies();",
                        "package/LICENSE": b"Apache-2.0"})
    # The lock names the genuine tarball (a new version, so it has to be fetched).
    with pytest.raises(browser_libs.SetupError) as exc:
        browser_libs.install([package(version="1.7.5")], str(dest), fetch=lambda url: tampered, log=lambda *_: None)
    assert "does not match the lock file" in str(exc.value) and "nothing was installed" in str(exc.value)
    assert integrity(GOOD) in str(exc.value) and integrity(tampered) in str(exc.value)
    assert snapshot(dest) == before


def test_a_tarball_without_the_named_file_is_refused(tmp_path):
    odd = tarball({"package/LICENSE": b"x"})
    with pytest.raises(browser_libs.SetupError, match=r"has no package/dist/hls\.min\.js"):
        browser_libs.install([package(odd)], str(tmp_path / "vendor"), fetch=lambda url: odd, log=lambda *_: None)
    assert not (tmp_path / "vendor").exists()


def test_an_unreachable_registry_fails_with_a_clear_message(tmp_path, monkeypatch, capsys):
    # A port nobody listens on: the connection is refused at once.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("NPM_REGISTRY", f"http://127.0.0.1:{port}")
    lock = tmp_path / "lock.json"
    lock.write_text(json.dumps({"packages": [package()]}))
    code = browser_libs.main(["--lock", str(lock), "--dest", str(tmp_path / "vendor")])
    err = capsys.readouterr().err
    assert code == 1
    assert f"cannot download http://127.0.0.1:{port}/hls.js/-/hls.js-1.7.4.tgz" in err
    assert "npm registry could not be reached" in err
    assert not (tmp_path / "vendor").exists()


def test_the_lock_file_pins_hls_js_from_the_npm_registry():
    packages = browser_libs.read_lock()
    hls = {p["name"]: p for p in packages}["hls.js"]
    assert hls["tarball"] == f"https://registry.npmjs.org/hls.js/-/hls.js-{hls['version']}.tgz"
    assert browser_libs.parse_integrity(hls["integrity"])[0] == "sha512"
    assert "hls.min.js" in hls["files"].values()


def test_lock_targets_cannot_leave_the_vendor_folder(tmp_path):
    lock = tmp_path / "lock.json"
    lock.write_text(json.dumps({"packages": [package(files={"package/dist/hls.min.js": "../../app.js"})]}))
    with pytest.raises(browser_libs.SetupError, match="bad target file name"):
        browser_libs.read_lock(str(lock))


def test_the_lock_file_pins_axe_core_for_the_browser_tests():
    axe = {p["name"]: p for p in browser_libs.read_lock()}["axe-core"]
    assert axe["tarball"] == f"https://registry.npmjs.org/axe-core/-/axe-core-{axe['version']}.tgz"
    assert browser_libs.parse_integrity(axe["integrity"])[0] == "sha512"
    assert axe["files"]["package/axe.min.js"] == "axe.min.js"
