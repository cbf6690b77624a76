"""Downloads under faults: every one ends in a complete verified snapshot or a clear error, resumed
transfers fetch no byte twice, and no corrupt or unverified file reaches blobs/ or a snapshot."""
import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from fake_hub import PENSIEVE, blob_names, hub, hub_env, pensieve, random_repo_dir  # noqa: F401

REPO = "test-org/faulty"
BIG = "model-00001-of-00002.safetensors"  # 3,000,000 bytes, served through the CDN redirect
SMALL_TEXT = "config.json"                # served directly, verified by its git blob id


def repo_dir(cache, repo_id=REPO):
    return cache / ("models--" + repo_id.replace("/", "--"))


def assert_complete_and_verified(out, repo, cache):
    assert out.returncode == 0, out.stderr
    snapshot = Path(out.stdout.strip())
    assert snapshot == repo_dir(cache) / "snapshots" / repo.commit
    for f in repo.files.values():
        data = (snapshot / f.path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f.sha256, f.path
    assert not list((repo_dir(cache) / "blobs").glob("*.incomplete"))


def range_start(req):
    return int(req["range"].split("=")[1].split("-")[0]) if req["range"] else 0


def assert_no_byte_twice(requests, size):
    """Each request starts where the bytes received so far end; together they sum to the file."""
    received = 0
    for r in requests:
        assert range_start(r) == received, [(range_start(x), x.get("sent")) for x in requests]
        received += r["sent"]
    assert received == size


@pytest.fixture
def repo(hub, tmp_path):
    return hub.add_repo(REPO, random_repo_dir(tmp_path / "src"))


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "hf-cache"


def test_connection_dropped_mid_file_several_times_resumes_without_refetching(hub, hub_env, repo, cache):
    hub.fault(REPO, BIG, drop_after=700_000, drop_times=3)
    hub.fault(REPO, SMALL_TEXT, drop_after=10, drop_times=2)
    out = pensieve(hub_env, "pull", REPO, "--quiet")
    assert_complete_and_verified(out, repo, cache)
    big = hub.content_requests(BIG)
    assert len(big) == 4
    assert_no_byte_twice(big, repo.files[BIG].size)
    assert_no_byte_twice(hub.content_requests(SMALL_TEXT), repo.files[SMALL_TEXT].size)


def test_500s_and_429_with_retry_after_are_retried(hub, hub_env, repo, cache):
    hub.fault(REPO, BIG, statuses=[(500, {}), (503, {}), (429, {"Retry-After": "1"})])
    out = pensieve(hub_env, "pull", REPO, "--quiet")
    assert_complete_and_verified(out, repo, cache)
    big = hub.content_requests(BIG)
    assert [r["status"] for r in big] == [500, 503, 429, 200]
    assert big[3]["time"] - big[2]["time"] >= 0.95, "Retry-After: 1 was honoured"


def test_stalled_transfer_is_abandoned_and_resumed(hub, hub_env, repo, cache):
    # The server stays silent far longer than the client's 1 s timeout, so a loaded 2-core
    # machine (a whole pull took 4.1 s there once) cannot blur the two.
    hub.fault(REPO, BIG, stall_after=1_000_000, stall_seconds=12, stall_times=1)
    started = time.monotonic()
    out = pensieve(dict(hub_env, PENSIEVE_HUB_TIMEOUT_S="1"), "pull", REPO, "--quiet")
    assert_complete_and_verified(out, repo, cache)
    assert time.monotonic() - started < 12, "the stall was detected before the server gave up"
    big = hub.content_requests(BIG)
    assert [range_start(r) for r in big] == [0, 1_000_000]


def test_server_ignoring_range_restarts_the_file_cleanly(hub, hub_env, repo, cache):
    hub.fault(REPO, BIG, drop_after=1_000_000, drop_times=1, ignore_range=True)
    out = pensieve(hub_env, "pull", REPO, "--quiet")
    assert_complete_and_verified(out, repo, cache)
    big = hub.content_requests(BIG)
    assert [r["range"] for r in big] == [None, "bytes=1000000-"]
    assert [r["status"] for r in big] == [200, 200]
    assert "ignored the Range request; restarting" in out.stderr


def test_corrupt_body_is_discarded_and_fetched_once_more(hub, hub_env, repo, cache):
    hub.fault(REPO, BIG, corrupt_times=1)
    out = pensieve(hub_env, "pull", REPO, "--quiet")
    assert_complete_and_verified(out, repo, cache)
    assert len(hub.content_requests(BIG)) == 2
    assert "SHA-256 mismatch" in out.stderr


def test_body_corrupt_twice_is_a_clear_error_and_nothing_unverified_is_kept(hub, hub_env, repo, cache):
    hub.fault(REPO, BIG, corrupt_times=2)
    hub.fault(REPO, SMALL_TEXT, corrupt_times=2)
    out = pensieve(dict(hub_env, PENSIEVE_HUB_JOBS="1"), "pull", REPO, "--quiet")
    assert out.returncode == 1
    assert "twice in a row; nothing was kept" in out.stderr
    big = repo.files[BIG]
    assert big.sha256 not in blob_names(cache, REPO)
    assert not [n for n in blob_names(cache, REPO) if n.endswith(".incomplete")]
    snapshot = repo_dir(cache) / "snapshots" / repo.commit
    assert not (snapshot / BIG).exists() and not (snapshot / BIG).is_symlink()
    # Whatever did reach blobs/ is exactly what the Hub lists.
    for name in blob_names(cache, REPO):
        data = (repo_dir(cache) / "blobs" / name).read_bytes()
        f = next(f for f in repo.files.values() if name in (f.sha256, f.blob_id))
        assert data == f.data


@pytest.mark.parametrize("evil", ["../evil", "/etc/evil", "a/../../evil", "a\\..\\evil", "a//b"])
def test_file_names_that_escape_the_cache_are_refused_before_any_write(hub, hub_env, tmp_path, cache, evil):
    hub.add_repo(REPO, random_repo_dir(tmp_path / "src"), extra_names=[evil])
    out = pensieve(hub_env, "pull", REPO, "--quiet")
    assert out.returncode == 1
    assert "refusing" in out.stderr and evil in out.stderr
    assert hub.content_requests() == []
    assert not (tmp_path / "evil").exists() and not (cache / "evil").exists()
    assert not (repo_dir(cache) / "blobs").exists()


def test_snapshot_folder_symlinked_outside_is_not_followed(hub, hub_env, repo, tmp_path, cache):
    outside = tmp_path / "outside"
    outside.mkdir()
    snapshot = repo_dir(cache) / "snapshots" / repo.commit
    snapshot.mkdir(parents=True)
    (snapshot / "docs").symlink_to(outside)
    out = pensieve(hub_env, "pull", REPO, "--quiet")
    assert out.returncode == 1
    assert "outside" in out.stderr and "symbolic link" in out.stderr
    assert list(outside.iterdir()) == []


def start_pull(env):
    return subprocess.Popen([str(PENSIEVE), "pull", REPO, "--quiet"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_partial(cache, sha, at_least, timeout=20):
    partial = repo_dir(cache) / "blobs" / f"{sha}.incomplete"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if partial.exists() and partial.stat().st_size >= at_least:
            return partial
        time.sleep(0.02)
    raise AssertionError("the download did not start")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM])
def test_pull_stopped_mid_download_resumes_and_verifies(hub, hub_env, repo, cache, sig):
    big = repo.files[BIG]
    hub.fault(REPO, BIG, rate=2_000_000)
    proc = start_pull(hub_env)
    partial = wait_for_partial(cache, big.sha256, 400_000)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=10)
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        # Stopped cleanly: its own exit status and a sentence on how to go on.
        assert proc.returncode == 130, err
        assert "interrupted" in err and "resume" in err
    kept = partial.stat().st_size
    assert 0 < kept < big.size
    assert big.sha256 not in blob_names(cache, REPO)

    hub.faults.clear()
    out = pensieve(hub_env, "pull", REPO, "--quiet")
    assert_complete_and_verified(out, repo, cache)
    resumed = hub.content_requests(BIG)[-1]
    assert range_start(resumed) == kept
    assert resumed["sent"] == big.size - kept


def test_two_pulls_at_once_end_with_one_verified_copy(hub, hub_env, repo, cache):
    big = repo.files[BIG]
    hub.fault(REPO, BIG, rate=3_000_000)
    first, second = start_pull(hub_env), start_pull(hub_env)
    out1, err1 = first.communicate(timeout=60)
    out2, err2 = second.communicate(timeout=60)
    assert first.returncode == 0 and second.returncode == 0, err1 + err2
    assert out1 == out2
    for out in (out1, out2):
        assert_complete_and_verified(subprocess.CompletedProcess([], 0, out, ""), repo, cache)
    # The blob lock made the second wait: the file crossed the wire once.
    assert sum(r["sent"] for r in hub.content_requests(BIG)) == big.size
    assert blob_names(cache, REPO).count(big.sha256) == 1


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "small-disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_too_little_disk_is_an_error_before_any_large_write(hub, hub_env, tmp_path, small_disk):
    big = hub.add_repo("test-org/too-big", random_repo_dir(
        tmp_path / "big", sizes={"model.safetensors": 24_000_000}))
    env = dict(hub_env, HF_HUB_CACHE=str(small_disk / "hub"))
    out = pensieve(env, "pull", big.repo_id)
    assert out.returncode == 1
    assert "not enough disk space in " + str(small_disk / "hub") in out.stderr
    assert "22.9 MiB" in out.stderr  # the download's size, and what is free
    assert "are free" in out.stderr
    assert hub.content_requests() == []
    assert blob_names(small_disk / "hub", big.repo_id) == []

    # The same small disk takes a model that fits.
    fits = hub.add_repo(REPO, random_repo_dir(tmp_path / "fits"))
    assert pensieve(env, "pull", fits.repo_id, "--quiet").returncode == 0
