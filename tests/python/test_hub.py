"""`pensieve pull`, `list` and `rm` against a local fake Hub: the Hugging Face cache layout shared
with huggingface_hub and mlx-lm, offline use, errors, and the progress lines."""
import json
import re

import pytest
from fake_hub import (blob_names, build_tiny_mlx_model, hub, hub_env, pensieve,  # noqa: F401
                      random_repo_dir)

REPO = "test-org/tiny-phi3"


def repo_dir(cache, repo_id):
    return cache / ("models--" + repo_id.replace("/", "--"))


def test_pull_then_huggingface_hub_and_mlx_lm_use_the_same_files(hub, hub_env, tmp_path):
    from huggingface_hub import snapshot_download
    import mlx_lm

    src = build_tiny_mlx_model(tmp_path / "src")
    repo = hub.add_repo(REPO, src)
    hub_env["HF_TOKEN"] = "hf_secret_for_test"
    out = pensieve(hub_env, "pull", REPO, "--quiet")
    assert out.returncode == 0, out.stderr
    snapshot = out.stdout.strip()
    cache = tmp_path / "hf-cache"
    assert snapshot == str(repo_dir(cache, REPO) / "snapshots" / repo.commit)
    # The layout huggingface_hub reads: symlinks into blobs named by sha256 / git blob id.
    for f in repo.files.values():
        link = repo_dir(cache, REPO) / "snapshots" / repo.commit / f.path
        assert link.is_symlink()
        assert link.read_bytes() == f.data
        assert (link.parent / link.readlink()).resolve().name == (f.sha256 if f.lfs else f.blob_id)
    assert (repo_dir(cache, REPO) / "refs" / "main").read_text() == repo.commit
    # Every request identified Pensieve; the token went to the Hub but not to the CDN host.
    assert hub.requests and all(r["user_agent"] == "pensieve/0.1" for r in hub.requests)
    to_hub = [r for r in hub.requests if r["host"].startswith("127.0.0.1")]
    to_cdn = [r for r in hub.requests if r["host"].startswith("localhost")]
    assert to_cdn and all(r["path"].startswith("/cdn/") for r in to_cdn)
    assert all(r["auth"] == "Bearer hf_secret_for_test" for r in to_hub)
    assert all(r["auth"] is None for r in to_cdn)

    n_requests = len(hub.requests)
    resolved = snapshot_download(REPO, local_files_only=True, cache_dir=str(cache))
    assert resolved == snapshot
    model, tokenizer = mlx_lm.load(resolved)
    assert tokenizer.encode("w3 w4") == [3, 4]
    assert len(hub.requests) == n_requests

    listed = json.loads(pensieve(hub_env, "list", "--json").stdout)
    assert [r["repo_id"] for r in listed] == [REPO]
    snap = listed[0]["snapshots"][0]
    assert snap["refs"] == ["main"] and snap["complete"] == "yes"
    assert snap["size_on_disk"] == sum(f.size for f in repo.files.values())


def test_cache_filled_by_huggingface_hub_is_used_without_downloading(hub, hub_env, tmp_path):
    from huggingface_hub import snapshot_download

    repo = hub.add_repo(REPO, random_repo_dir(tmp_path / "src"))
    cache = tmp_path / "hf-cache"
    path = snapshot_download(REPO, cache_dir=str(cache), endpoint=hub.url)
    assert hub.content_requests(), "huggingface_hub fetched the files from the fake Hub"
    hub.requests.clear()

    # A commit is immutable: complete in the cache means no request at all.
    out = pensieve(hub_env, "pull", f"{REPO}@{repo.commit}")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == path
    # Offline: no request either.
    out = pensieve(dict(hub_env, HF_HUB_OFFLINE="1"), "pull", REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == path
    assert hub.requests == []
    # A branch is looked up (one API request) but nothing is downloaded again.
    out = pensieve(hub_env, "pull", REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == path
    assert [r["kind"] for r in hub.requests] == ["api"]
    listed = json.loads(pensieve(hub_env, "list", "--json").stdout)
    assert listed[0]["snapshots"][0]["complete"] == "yes"


def test_unreachable_hub_uses_a_complete_cache_and_otherwise_says_how_to_pass_a_directory(
        hub, hub_env, tmp_path):
    hub.add_repo(REPO, random_repo_dir(tmp_path / "src"))
    first = pensieve(hub_env, "pull", REPO, "--quiet")
    assert first.returncode == 0, first.stderr
    hub.stop()  # nothing listens on the port any more

    out = pensieve(hub_env, "pull", REPO, "--quiet")
    assert out.returncode == 0, out.stderr
    assert out.stdout == first.stdout
    assert "using the cached snapshot" in out.stderr

    out = pensieve(hub_env, "pull", "test-org/never-downloaded", "--quiet")
    assert out.returncode == 1
    assert "cannot reach the Hugging Face Hub" in out.stderr
    assert "-m /path/to/model" in out.stderr

    out = pensieve(dict(hub_env, HF_HUB_OFFLINE="1"), "pull", "test-org/never-downloaded")
    assert out.returncode == 1
    assert "HF_HUB_OFFLINE" in out.stderr and "-m /path/to/model" in out.stderr


def test_gated_missing_repo_and_revision_have_their_own_message_and_no_retry(hub, hub_env, tmp_path):
    hub.add_repo("test-org/gated", random_repo_dir(tmp_path / "src"), gated_token="hf_ok")
    out = pensieve(hub_env, "pull", "test-org/gated")
    assert out.returncode == 1 and "gated" in out.stderr and "HF_TOKEN" in out.stderr
    out = pensieve(hub_env, "pull", "test-org/absent")
    assert out.returncode == 1 and "not found" in out.stderr
    out = pensieve(hub_env, "pull", "test-org/gated@no-such-branch")
    assert out.returncode == 1
    assert len(hub.requests) == 3, "401 and 404 are not retried"
    out = pensieve(dict(hub_env, HF_TOKEN="hf_ok"), "pull", "test-org/gated@no-such-branch")
    assert out.returncode == 1 and "revision not found" in out.stderr
    out = pensieve(dict(hub_env, HF_TOKEN="hf_ok"), "pull", "test-org/gated", "--quiet")
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("bad", ["../etc", "org/name/extra", "org--x/name", "org/..name",
                                 "/abs/path", "org/na me", "org/name@../../x", "org/name@",
                                 "o/" + "n" * 100])
def test_invalid_repository_ids_and_revisions_are_refused_before_any_request(hub, hub_env, bad):
    out = pensieve(hub_env, "pull", bad)
    assert out.returncode != 0
    assert "error:" in out.stderr
    assert hub.requests == []


def test_rm_removes_a_snapshot_and_only_the_blobs_no_other_snapshot_uses(hub, hub_env, tmp_path):
    cache = tmp_path / "hf-cache"
    v1 = hub.add_repo(REPO, random_repo_dir(tmp_path / "v1", seed=1), revisions=("v1",))
    assert pensieve(hub_env, "pull", f"{REPO}@v1", "--quiet").returncode == 0
    # v2 shares docs/README.md? No: README differs by seed. It shares the second shard.
    src2 = random_repo_dir(tmp_path / "v2", seed=1)
    (src2 / "model-00001-of-00002.safetensors").write_bytes(b"new weights" * 1000)
    v2 = hub.add_repo(REPO, src2, revisions=("v2",))
    assert pensieve(hub_env, "pull", f"{REPO}@v2", "--quiet").returncode == 0
    shared = v1.files["model-00002-of-00002.safetensors"].sha256
    only_v1 = v1.files["model-00001-of-00002.safetensors"].sha256
    assert shared == v2.files["model-00002-of-00002.safetensors"].sha256
    assert only_v1 in blob_names(cache, REPO)

    listed = json.loads(pensieve(hub_env, "list", "--json").stdout)
    assert sorted(s["refs"][0] for s in listed[0]["snapshots"]) == ["v1", "v2"]

    out = pensieve(hub_env, "rm", f"{REPO}@v1")
    assert out.returncode == 0, out.stderr
    blobs = blob_names(cache, REPO)
    assert only_v1 not in blobs and shared in blobs
    assert not (repo_dir(cache, REPO) / "snapshots" / v1.commit).exists()
    assert not (repo_dir(cache, REPO) / "refs" / "v1").exists()
    listed = json.loads(pensieve(hub_env, "list", "--json").stdout)
    assert [(s["refs"], s["complete"]) for s in listed[0]["snapshots"]] == [(["v2"], "yes")]
    assert listed[0]["snapshots"][0]["commit"] == v2.commit

    out = pensieve(hub_env, "rm", REPO)
    assert out.returncode == 0, out.stderr
    assert not repo_dir(cache, REPO).exists()
    assert "no models" in pensieve(hub_env, "list").stdout
    assert pensieve(hub_env, "rm", REPO).returncode == 1


def test_list_reports_an_incomplete_snapshot(hub, hub_env, tmp_path):
    repo = hub.add_repo(REPO, random_repo_dir(tmp_path / "src"))
    assert pensieve(hub_env, "pull", REPO, "--quiet").returncode == 0
    link = repo_dir(tmp_path / "hf-cache", REPO) / "snapshots" / repo.commit / "config.json"
    link.unlink()
    listed = json.loads(pensieve(hub_env, "list", "--json").stdout)
    snap = listed[0]["snapshots"][0]
    assert snap["complete"] == "no" and "config.json" in snap["problem"]
    table = pensieve(hub_env, "list").stdout
    assert re.search(rf"{REPO}\s+main\s+{repo.commit[:8]}\s+.*\bno\b", table)


def test_progress_lines_without_a_terminal_carry_sizes_speed_and_eta(hub, hub_env, tmp_path):
    hub.add_repo(REPO, random_repo_dir(tmp_path / "src"))
    hub.fault(REPO, "model-00001-of-00002.safetensors", rate=3_000_000)  # about one second
    out = pensieve(hub_env, "pull", REPO)
    assert out.returncode == 0, out.stderr
    lines = [l for l in out.stderr.splitlines() if "ETA" in l]
    assert len(lines) >= 2, out.stderr
    pattern = re.compile(r"pull test-org/tiny-phi3: [\d.]+ (B|KiB|MiB) / 4\.3 MiB \(\d+%\) "
                         r"at [\d.]+ (B|KiB|MiB)/s, ETA (\d+s|\?)")
    assert all(pattern.search(l) for l in lines), lines
    assert "model-00001-of-00002.safetensors" in lines[0]
    assert re.search(r"downloaded of 4\.3 MiB in [\d.]+s \([\d.]+ (KiB|MiB)/s\)", out.stderr)

    quiet = pensieve(dict(hub_env, HF_HUB_CACHE=str(tmp_path / "other")), "pull", REPO, "--quiet")
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_progress_on_a_terminal_draws_bars(hub, hub_env, tmp_path):
    import os
    import pty
    import subprocess

    from fake_hub import PENSIEVE

    hub.add_repo(REPO, random_repo_dir(tmp_path / "src"))
    hub.fault(REPO, "model-00001-of-00002.safetensors", rate=3_000_000)
    leader, follower = pty.openpty()
    proc = subprocess.Popen([str(PENSIEVE), "pull", REPO], env=hub_env, stdout=subprocess.PIPE,
                            stderr=follower)
    os.close(follower)
    drawn = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        drawn += chunk
    os.close(leader)
    assert proc.wait(timeout=30) == 0
    text = drawn.decode(errors="replace")
    assert "\x1b[2K" in text and "#" in text, text[-500:]
    assert re.search(r"\[#*-*\] [\d.]+ (KiB|MiB) / 4\.3 MiB \(\d+%\) at .*/s, ETA", text)
    assert "model-00001-of-00002.safetensors" in text
