"""SwiftFileSystem against a real Swift all-in-one on 127.0.0.1 (``shoebox_core.testing.servers``).

fsspec's own abstract suites (copy, get, put, open, pipe) run first, then direct tests of what
swiftspec 0.0.4 gets wrong: logging in, https, containers, paged listings, exact ranges, large
objects in segments, and uploads that fail without leaving anything under the final name.
"""

from __future__ import annotations

import gc
import hashlib
import itertools
import os
import pickle
import posixpath
import random
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import fsspec
import pytest
import swiftclient.client
from fsspec.tests.abstract import (
    AbstractCopyTests,
    AbstractFixtures,
    AbstractGetTests,
    AbstractOpenTests,
    AbstractPipeTests,
    AbstractPutTests,
)

from shoebox_swift import SwiftFileSystem, file_etag
from shoebox_swift._file import Upload

KiB = 1024


def make_fs(server: Any, **options: Any) -> SwiftFileSystem:
    """A SwiftFileSystem logged in with v1 auth, failing fast (no retries), not cached."""
    options.setdefault("retries", 0)
    if "storage_url" not in options:
        options.setdefault("auth_url", server.auth_url)
        options.setdefault("user", server.user)
        options.setdefault("key", server.key)
    return SwiftFileSystem(use_env=False, skip_instance_cache=True, **options)


# -- fsspec's abstract test suite ---------------------------------------------------------------


class SwiftFixtures(AbstractFixtures):
    """What fsspec's abstract suite needs: a filesystem, a container to work in, "/" joins."""

    @pytest.fixture
    def fs(self, swift_server):
        fs = make_fs(swift_server)
        fs.makedirs("abstract", exist_ok=True)
        return fs

    @pytest.fixture
    def fs_path(self):
        return "abstract"

    @pytest.fixture
    def fs_join(self):
        return posixpath.join

    @pytest.fixture
    def supports_empty_directories(self):
        return False  # Swift has pseudo-directories only: a directory exists while it has objects


class TestSwiftCopy(AbstractCopyTests, SwiftFixtures):
    pass


class TestSwiftGet(AbstractGetTests, SwiftFixtures):
    pass


class TestSwiftPut(AbstractPutTests, SwiftFixtures):
    pass


class TestSwiftOpen(AbstractOpenTests, SwiftFixtures):
    pass


class TestSwiftPipe(AbstractPipeTests, SwiftFixtures):
    pass


# -- direct tests -------------------------------------------------------------------------------


@pytest.fixture
def fs(swift_server: Any) -> SwiftFileSystem:
    return make_fs(swift_server)


@pytest.fixture
def container(fs: SwiftFileSystem) -> str:
    """A new, empty container."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    fs.mkdir(name)
    return name


def segments_of(fs: SwiftFileSystem, container: str) -> list[str]:
    """Every segment stored for objects of ``container``."""
    return fs.find(fs.segment_container_for(container))


def test_v1_auth_and_container_creation(fs: SwiftFileSystem) -> None:
    name = f"t-{uuid.uuid4().hex[:12]}"
    assert not fs.exists(name)
    fs.mkdir(name)
    assert fs.isdir(name) and name in fs.ls("", detail=False)
    with pytest.raises(FileExistsError):
        fs.mkdir(name)
    with pytest.raises(FileExistsError):
        fs.makedirs(name)
    fs.makedirs(f"{name}/deeper/still", exist_ok=True)  # pseudo-directories store nothing
    fs.pipe(f"{name}/a/b", b"x")
    with pytest.raises(OSError, match="409"):
        fs.rmdir(name)  # not empty
    fs.rm(name, recursive=True)
    assert not fs.exists(name)
    with pytest.raises(FileNotFoundError):
        fs.ls(name)


def test_wrong_key_is_a_permission_error(swift_server: Any) -> None:
    with pytest.raises(PermissionError):
        make_fs(swift_server, key="wrong").ls("")


def test_a_ready_token_and_storage_url(swift_server: Any, container: str) -> None:
    fs = make_fs(swift_server, storage_url=swift_server.storage_url, token=swift_server.token())
    fs.pipe(f"{container}/x", b"by token")
    assert fs.cat(f"{container}/x") == b"by token"


def test_credentials_from_the_environment(
    swift_server: Any, container: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in [v for v in os.environ if v.startswith(("OS_", "ST_"))]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv("ST_AUTH", swift_server.auth_url)
    monkeypatch.setenv("ST_USER", swift_server.user)
    monkeypatch.setenv("ST_KEY", swift_server.key)
    fs = SwiftFileSystem(retries=0, skip_instance_cache=True)
    fs.pipe(f"{container}/env", b"v1 from ST_*")
    for variable in ("ST_AUTH", "ST_USER", "ST_KEY"):
        monkeypatch.delenv(variable)
    monkeypatch.setenv("OS_STORAGE_URL", swift_server.storage_url)
    monkeypatch.setenv("OS_AUTH_TOKEN", swift_server.token())
    fs = SwiftFileSystem(retries=0, skip_instance_cache=True)
    assert fs.cat(f"{container}/env") == b"v1 from ST_*"
    monkeypatch.delenv("OS_AUTH_TOKEN")
    with pytest.raises(ValueError, match="needs credentials"):
        SwiftFileSystem(skip_instance_cache=True)


def test_keystone_v3_options_reach_swiftclient(
    swift_server: Any, container: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keystone itself is not run here: swiftclient's call into python-keystoneclient is
    replaced, and hands back a real token and storage URL of the test Swift."""
    seen: list[tuple[Any, ...]] = []

    def keystone(auth_url: str, user: str, key: str, os_options: dict[str, Any],
                 **kwargs: Any) -> tuple[str, str]:
        seen.append((auth_url, user, key, dict(os_options), kwargs["auth_version"]))
        return swift_server.storage_url, swift_server.token()

    monkeypatch.setattr(swiftclient.client, "get_auth_keystone", keystone)
    for variable in [v for v in os.environ if v.startswith(("OS_", "ST_"))]:
        monkeypatch.delenv(variable)
    fs = SwiftFileSystem(
        "https://keystone.invalid/v3", "alice", "secret", auth_version="3",
        os_options={"project_name": "archive", "user_domain_name": "Default",
                    "project_domain_name": "Default", "region_name": "RegionOne"},
        retries=0, use_env=False, skip_instance_cache=True,
    )
    fs.pipe(f"{container}/ks", b"through keystone")
    assert seen[-1] == ("https://keystone.invalid/v3", "alice", "secret",
                        {"project_name": "archive", "user_domain_name": "Default",
                         "project_domain_name": "Default", "region_name": "RegionOne"}, "3")
    # The same from an openrc file's variables.
    openrc = {
        "OS_AUTH_URL": "https://keystone.invalid/v3", "OS_USERNAME": "bob",
        "OS_PASSWORD": "pw", "OS_PROJECT_NAME": "logs", "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_ID": "default", "OS_REGION_NAME": "RegionTwo",
        "OS_INTERFACE": "internal", "OS_IDENTITY_API_VERSION": "3",
    }
    for variable, value in openrc.items():
        monkeypatch.setenv(variable, value)
    fs = SwiftFileSystem(retries=0, skip_instance_cache=True)
    assert fs.cat(f"{container}/ks") == b"through keystone"
    assert seen[-1] == ("https://keystone.invalid/v3", "bob", "pw",
                        {"project_name": "logs", "user_domain_name": "Default",
                         "project_domain_id": "default", "region_name": "RegionTwo",
                         "endpoint_type": "internal"}, "3")


def test_keystone_without_keystoneclient_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if swiftclient.client.ksclient_v3 is not None:
        pytest.skip("python-keystoneclient is installed")  # pragma: no cover
    fs = SwiftFileSystem("http://127.0.0.1:9/v3", "u", "k", auth_version="3",
                         os_options={"project_name": "p"}, retries=0, use_env=False,
                         skip_instance_cache=True)
    with pytest.raises(OSError, match="python-keystoneclient"):
        fs.ls("")


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_https_with_a_ca_file(swift_server: Any) -> None:
    fs = make_fs(swift_server, auth_url=swift_server.https_auth_url, cacert=swift_server.ca_file)
    name = f"tls-{uuid.uuid4().hex[:12]}"
    fs.mkdir(name)
    fs.pipe(f"{name}/x", b"over https")
    assert fs.connection.url.startswith("https://")
    assert fs.cat(f"{name}/x") == b"over https"
    assert make_fs(swift_server, auth_url=swift_server.https_auth_url,
                   verify="false").cat(f"{name}/x") == b"over https"
    with pytest.raises(OSError, match="(?i)certificate"):
        make_fs(swift_server, auth_url=swift_server.https_auth_url).ls("")


def test_swift_urls_work_through_fsspec(swift_server: Any, container: str) -> None:
    options = {"auth_url": swift_server.auth_url, "user": swift_server.user,
               "key": swift_server.key, "retries": "0", "use_env": "false"}
    assert fsspec.get_filesystem_class("swift") is SwiftFileSystem
    with fsspec.open(f"swift://{container}/dir/u.txt", "wt", **options) as f:
        f.write("via a URL")
    fs, path = fsspec.core.url_to_fs(f"swift://{container}/dir", **options)
    assert isinstance(fs, SwiftFileSystem) and path == f"{container}/dir"
    assert fs.ls(path, detail=False) == [f"{container}/dir/u.txt"]
    assert fs.unstrip_protocol(f"{container}/dir/u.txt") == f"swift://{container}/dir/u.txt"
    assert pickle.loads(pickle.dumps(fs)).cat(f"{container}/dir/u.txt") == b"via a URL"


def _put_many(fs: SwiftFileSystem, paths: list[str]) -> None:
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda p: fs.pipe_file(p, p.encode()), paths))


def test_listings_follow_the_marker_page_after_page(
    swift_server: Any, container: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [f"{container}/obj-{i:04d}" for i in range(250)]
    _put_many(make_fs(swift_server), names)
    fs = make_fs(swift_server, page_size=100)
    requests: list[dict[str, Any]] = []
    call = fs.call

    def counting(path: str, method: str, *args: Any, **kwargs: Any) -> Any:
        if method == "get_container":
            requests.append(kwargs)
        return call(path, method, *args, **kwargs)

    monkeypatch.setattr(fs, "call", counting)
    assert fs.ls(container, detail=False) == names
    assert [r["limit"] for r in requests] == [100] * 4  # 100 + 100 + 50 + an empty page
    assert [r["marker"] for r in requests] == [None, names[99][len(container) + 1:],
                                               names[199][len(container) + 1:],
                                               names[249][len(container) + 1:]]
    assert fs.find(container) == names
    assert sum(e["size"] for e in fs.ls(container)) == sum(len(n) for n in names)


def test_pseudo_directories_across_page_boundaries(swift_server: Any, container: str) -> None:
    files = [f"{container}/top-{i}" for i in range(5)]
    deep = [f"{container}/d{i:02d}/sub/f{j}" for i in range(7) for j in range(4)]
    _put_many(make_fs(swift_server), files + deep)
    fs = make_fs(swift_server, page_size=3)  # every directory spans pages of the flat listing
    listing = fs.ls(container)
    dirs = [e["name"] for e in listing if e["type"] == "directory"]
    assert dirs == [f"{container}/d{i:02d}" for i in range(7)]
    assert [e["name"] for e in listing if e["type"] == "file"] == files
    assert fs.ls(f"{container}/d03/sub", detail=False) == [
        f"{container}/d03/sub/f{j}" for j in range(4)
    ]
    assert fs.find(container) == sorted(files + deep)
    assert fs.find(container, maxdepth=2, withdirs=True) == sorted(
        [container, *files] + [f"{container}/d{i:02d}" for i in range(7)]
        + [f"{container}/d{i:02d}/sub" for i in range(7)]
    )
    assert fs.glob(f"{container}/d0[12]/*/f3") == [f"{container}/d01/sub/f3",
                                                    f"{container}/d02/sub/f3"]
    assert fs.isdir(f"{container}/d04") and not fs.isfile(f"{container}/d04")
    assert fs.info(f"{container}/d04/sub")["type"] == "directory"
    with pytest.raises(FileNotFoundError):
        fs.info(f"{container}/d99")


RANGE_POINTS = [None, 0, 1, 255, 256, 257, 999, 1000, 1001, 5000, -1, -2, -256, -999, -1000, -5000]


@pytest.mark.parametrize("large", [False, True], ids=["plain", "slo"])
def test_ranges_are_python_slices(swift_server: Any, container: str, large: bool) -> None:
    fs = make_fs(swift_server, segment_size=256)  # the large object has four segments
    data = os.urandom(1000 if large else 255)
    path = f"{container}/ranged"
    with fs.open(path, "wb") as f:
        f.write(data)
    assert fs.info(path)["slo"] is large
    data = fs.cat(path) if not large else data
    wrong = [
        (start, end)
        for start, end in itertools.product(RANGE_POINTS, RANGE_POINTS)
        if fs.cat_file(path, start=start, end=end) != data[start:end]
    ]
    assert wrong == []
    assert fs.cat_ranges([path] * 3, [0, 10, -5], [10, 20, None]) == [
        data[0:10], data[10:20], data[-5:]
    ]
    with fs.open(path, "rb", block_size=64) as f:
        f.seek(100)
        assert f.read(37) == data[100:137]
        f.seek(-3, 2)
        assert f.read() == data[-3:]


def test_a_range_is_one_request_for_exactly_those_bytes(
    fs: SwiftFileSystem, container: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fs.pipe(f"{container}/r", bytes(range(100)))
    sent: list[Any] = []
    get_object = fs.connection.get_object

    def recording(*args: Any, **kwargs: Any) -> Any:
        sent.append(kwargs.get("headers"))
        return get_object(*args, **kwargs)

    monkeypatch.setattr(fs.connection, "get_object", recording)
    assert fs.cat_file(f"{container}/r", start=10, end=20) == bytes(range(10, 20))
    assert fs.cat_file(f"{container}/r", start=95) == bytes(range(95, 100))
    assert fs.cat_file(f"{container}/r", start=-3) == bytes(range(97, 100))
    assert sent == [{"Range": "bytes=10-19"}, {"Range": "bytes=95-"}, {"Range": "bytes=-3"}]
    fs.pipe(f"{container}/empty", b"")
    assert fs.cat_file(f"{container}/empty", start=0, end=10) == b""
    assert fs.cat_file(f"{container}/empty", start=-3) == b""
    with pytest.raises(FileNotFoundError):
        fs.cat_file(f"{container}/missing", start=0, end=5)


def test_a_large_upload_goes_up_in_segments(
    swift_server: Any, container: str, tmp_path: Path
) -> None:
    fs = make_fs(swift_server, segment_size=64 * KiB)
    data = os.urandom(3 * 1024 * KiB + 123)
    path = f"{container}/big.bin"
    rng = random.Random(5)
    with fs.open(path, "wb", metadata={"origin": "test"}) as f:
        offset = 0
        while offset < len(data):
            step = rng.choice([1, 100, 4096, 65535, 65536, 200_000])
            f.write(data[offset : offset + step])
            offset += step
    info = fs.info(path)
    assert (info["size"], info["slo"], info["metadata"]) == (len(data), True, {"origin": "test"})
    sizes = [int(s["bytes"]) for s in fs.manifest(path)]
    assert len(sizes) == 49 and set(sizes[:-1]) == {64 * KiB} and sizes[-1] == 123
    assert fs.cat(path) == data
    local = tmp_path / "big.bin"
    local.write_bytes(data)
    assert info["etag"] == file_etag(local, sizes) == fs.etag(path)
    assert fs.matches_local(local, path)[0]
    fs.put_file(str(local), f"{container}/put.bin")
    assert fs.info(f"{container}/put.bin")["etag"] == info["etag"]
    assert len(segments_of(fs, container)) == 98
    fs.rm([path, f"{container}/put.bin"])
    assert not fs.exists(path) and segments_of(fs, container) == []


def test_replacing_a_large_object_deletes_its_old_segments(
    swift_server: Any, container: str
) -> None:
    fs = make_fs(swift_server, segment_size=1000)
    fs.pipe(f"{container}/o", os.urandom(3500))
    assert len(segments_of(fs, container)) == 4
    fs.pipe(f"{container}/o", os.urandom(2500))
    assert len(segments_of(fs, container)) == 3
    fs.pipe(f"{container}/o", b"small now")
    assert segments_of(fs, container) == [] and fs.cat(f"{container}/o") == b"small now"
    kept = make_fs(swift_server, segment_size=1000, leave_segments=True)
    kept.pipe(f"{container}/o", os.urandom(2500))
    kept.pipe(f"{container}/o", b"small again")
    assert len(segments_of(fs, container)) == 3


def test_an_exception_while_writing_leaves_the_old_object_alone(
    swift_server: Any, container: str
) -> None:
    fs = make_fs(swift_server, segment_size=1000)
    path = f"{container}/kept"
    fs.pipe(path, b"the original")
    with pytest.raises(RuntimeError), fs.open(path, "wb") as f:
        f.write(os.urandom(5500))  # five segments already stored
        assert len(segments_of(fs, container)) == 5
        raise RuntimeError("the producer failed")
    assert fs.cat(path) == b"the original"
    assert segments_of(fs, container) == []


def test_the_proxy_dying_mid_upload_leaves_no_object(
    swift_server: Any, container: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fs = make_fs(swift_server, segment_size=1000, timeout=5)
    put_segment = Upload.put_segment
    stored = []

    def failing(self: Upload, data: bytes) -> None:
        if len(stored) == 3:
            swift_server.stop()
        put_segment(self, data)
        stored.append(len(data))

    monkeypatch.setattr(Upload, "put_segment", failing)
    data = os.urandom(10_000)
    try:
        with pytest.raises(OSError):
            fs.pipe(f"{container}/half", data)
        with pytest.raises(OSError):
            fs.exists(f"{container}/half")  # a server that does not answer is not "no file"
    finally:
        swift_server.start()
    assert stored == [1000] * 3
    assert not fs.exists(f"{container}/half")
    # The segments that were stored could not be deleted while the proxy was down: they are
    # orphans (invisible, costing space), never part of an object under the final name.
    assert len(segments_of(fs, container)) == 3
    monkeypatch.undo()
    fs.pipe(f"{container}/half", data)
    assert fs.cat(f"{container}/half") == data


def test_a_manifest_stored_despite_a_lost_answer_keeps_its_segments(
    swift_server: Any, container: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fs = make_fs(swift_server, segment_size=1000)
    put = Upload._put

    def answer_lost(self: Upload, container: str, name: str, data: bytes, **kwargs: Any) -> Any:
        put(self, container, name, data, **kwargs)
        if kwargs.get("query_string") == "multipart-manifest=put":
            raise TimeoutError("the answer to the manifest PUT never came")

    monkeypatch.setattr(Upload, "_put", answer_lost)
    data = os.urandom(2500)
    with pytest.raises(TimeoutError):
        fs.pipe(f"{container}/o", data)
    assert fs.cat(f"{container}/o") == data, "a stored manifest must keep its segments"


def test_an_exclusive_write_never_replaces_an_object(fs: SwiftFileSystem, container: str) -> None:
    path = f"{container}/x"
    fs.pipe(path, b"first")
    with pytest.raises(FileExistsError):
        fs.open(path, "xb")
    with pytest.raises(FileExistsError):
        fs.pipe_file(path, b"second", mode="create")
    small = make_fs_like(fs, segment_size=100)
    with pytest.raises(FileExistsError):
        with small.open(f"{container}/y", "xb") as f:
            f.write(os.urandom(350))
            small.pipe(f"{container}/y", b"someone else was first")
    assert small.cat(f"{container}/y") == b"someone else was first"
    assert fs.cat(path) == b"first" and segments_of(fs, container) == []


def make_fs_like(fs: SwiftFileSystem, **changes: Any) -> SwiftFileSystem:
    return SwiftFileSystem(**{**fs.storage_options, **changes})


def test_an_unclosed_upload_is_abandoned_not_published(
    fs: SwiftFileSystem, container: str
) -> None:
    f = fs.open(f"{container}/forgotten", "wb")
    f.write(b"half of what was meant")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del f
        gc.collect()
    assert any(issubclass(w.category, ResourceWarning) for w in caught)
    assert not fs.exists(f"{container}/forgotten")


def test_appending_is_refused(fs: SwiftFileSystem, container: str) -> None:
    with pytest.raises(NotImplementedError):
        fs.open(f"{container}/a", "ab")


def test_checksums_and_metadata(fs: SwiftFileSystem, container: str, tmp_path: Path) -> None:
    data = b"checked " * 100
    fs.pipe_file(f"{container}/c", data, metadata={"Shoebox-MD5": "abc"}, content_type="x/y")
    info = fs.info(f"{container}/c")
    assert info["etag"] == hashlib.md5(data).hexdigest() == fs.ukey(f"{container}/c")
    assert fs.checksum(f"{container}/c") == int(info["etag"], 16)
    assert info["metadata"] == {"shoebox-md5": "abc"} and info["content_type"] == "x/y"
    assert fs.modified(f"{container}/c").tzinfo is not None
    local = tmp_path / "c"
    local.write_bytes(data)
    assert fs.matches_local(local, f"{container}/c") == (
        True, f"{len(data)} bytes, ETag {info['etag']}"
    )
    local.write_bytes(data[:-1] + b"!")
    ok, why = fs.matches_local(local, f"{container}/c")
    assert not ok and "ETag" in why
    local.write_bytes(data + b"!")
    assert fs.matches_local(local, f"{container}/c") == (
        False, f"size {len(data)} on Swift, {len(data) + 1} locally"
    )


def test_threads_share_one_filesystem(fs: SwiftFileSystem, container: str) -> None:
    def work(i: int) -> bytes:
        path = f"{container}/thread-{i}"
        fs.pipe(path, str(i).encode() * 1000)
        return bytes(fs.cat_file(path, start=0, end=5))

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(work, range(32))) == [(str(i) * 5).encode()[:5] for i in range(32)]
    assert len(fs.ls(container)) == 32
