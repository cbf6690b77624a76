"""A local fake Hugging Face Hub on 127.0.0.1 for download tests.

Speaks the endpoints Pensieve and huggingface_hub use:
  GET  /api/models/{repo}/revision/{rev}[?blobs=true]   commit sha and siblings (size, blobId, lfs)
  GET  /api/models/{repo}/tree/{rev}?recursive=true     the listing huggingface_hub's snapshot uses
  HEAD|GET /{repo}/resolve/{rev}/{path}                 small files directly (ETag = git blob id);
                                                        LFS files as a 302 to /cdn/{sha256} with
                                                        X-Linked-Etag / X-Linked-Size
  HEAD|GET /cdn/{sha256}                                the "CDN": LFS content
Content answers honour Range (206 + Content-Range). Faults can be injected per file (see
`Fault`), and every request is recorded with its Range header.
"""
from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

LFS_SUFFIXES = (".safetensors", ".bin", ".gguf", ".model", ".npz")
LFS_MIN_SIZE = 10 * 1024 * 1024


@dataclass
class Fault:
    """Misbehaviour of the content answers (GET) of one file. Counters count down per request."""
    statuses: list = field(default_factory=list)  # [(code, {header: value}), ...] answered in turn
    drop_after: int | None = None  # bytes sent before the connection is cut...
    drop_times: int = 0            # ...on this many requests
    stall_after: int | None = None  # bytes sent before the server goes silent...
    stall_seconds: float = 0.0      # ...for this long...
    stall_times: int = 0            # ...on this many requests
    ignore_range: bool = False     # always 200 with the whole body
    corrupt_times: int = 0         # this many bodies have one byte flipped
    rate: float | None = None      # bytes per second


@dataclass
class RepoFileEntry:
    path: str
    data: bytes | None  # None: listed but not served (a hostile name)
    size: int
    sha256: str
    blob_id: str
    lfs: bool


@dataclass
class Repo:
    repo_id: str
    commit: str
    files: dict  # path -> RepoFileEntry
    revisions: tuple = ("main",)
    gated_token: str | None = None  # when set, requests without "Bearer <token>" get 401 GatedRepo


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class FakeHub:
    def __init__(self):
        self.repos: dict[str, Repo] = {}
        self.faults: dict[tuple[str, str], Fault] = {}
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._server = None
        self._thread = None
        self.port = None

    # ---- setup -------------------------------------------------------------------------------
    def add_repo(self, repo_id: str, directory: Path, extra_names=(), revisions=("main",),
                 gated_token=None) -> Repo:
        """Serves every file under `directory` as the repository's content; `extra_names` are
        listed (and would be served empty) but are hostile names a client must refuse."""
        files = {}
        for p in sorted(Path(directory).rglob("*")):
            if not p.is_file():
                continue
            rel = p.relative_to(directory).as_posix()
            data = p.read_bytes()
            lfs = rel.endswith(LFS_SUFFIXES) or len(data) >= LFS_MIN_SIZE
            files[rel] = RepoFileEntry(rel, data, len(data), hashlib.sha256(data).hexdigest(),
                                       git_blob_id(data), lfs)
        for name in extra_names:
            data = b"you should not have this\n"
            files[name] = RepoFileEntry(name, data, len(data), hashlib.sha256(data).hexdigest(),
                                        git_blob_id(data), False)
        digest = hashlib.sha1(repo_id.encode())
        for rel in sorted(files):
            digest.update(rel.encode() + b"\0" + files[rel].sha256.encode())
        repo = Repo(repo_id, digest.hexdigest(), files, tuple(revisions), gated_token)
        self.repos[repo_id] = repo
        return repo

    def fault(self, repo_id: str, path: str, **kwargs) -> Fault:
        f = Fault(**kwargs)
        self.faults[(repo_id, path)] = f
        return f

    # ---- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- inspection --------------------------------------------------------------------------
    def record(self, entry: dict):
        with self._lock:
            self.requests.append(entry)

    def content_requests(self, path_suffix: str | None = None) -> list[dict]:
        """GETs that carried (or should have carried) file content, in arrival order."""
        with self._lock:
            reqs = list(self.requests)
        out = [r for r in reqs if r["method"] == "GET" and r["kind"] == "content"]
        if path_suffix is not None:
            out = [r for r in out if r["file"] == path_suffix]
        return out


def _parse_range(header: str | None, size: int):
    """(start, end_inclusive) of "bytes=N-" / "bytes=N-M", None when absent or unusable."""
    if not header or not header.startswith("bytes="):
        return None
    spec = header[len("bytes="):]
    if "," in spec or "-" not in spec:
        return None
    a, b = spec.split("-", 1)
    if not a:
        return None
    start = int(a)
    end = int(b) if b else size - 1
    return start, min(end, size - 1)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: FakeHub = None

    def log_message(self, *args):  # quiet
        pass

    # -- dispatch
    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_GET(self):
        self._dispatch("GET")

    def _dispatch(self, method):
        parsed = urllib.parse.urlsplit(self.path)
        parts = [urllib.parse.unquote(p) for p in parsed.path.split("/")[1:]]
        query = urllib.parse.parse_qs(parsed.query)
        entry = {"method": method, "path": self.path, "range": self.headers.get("Range"),
                 "auth": self.headers.get("Authorization"),
                 "user_agent": self.headers.get("User-Agent"), "host": self.headers.get("Host"),
                 "time": time.monotonic(),
                 "kind": "other", "file": None, "status": None}
        self.hub.record(entry)  # at arrival: a client may finish before this handler returns
        try:
            if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] == "revision":
                entry["kind"] = "api"
                self._revision_info(entry, f"{parts[2]}/{parts[3]}", "/".join(parts[5:]), query)
            elif parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] == "tree":
                entry["kind"] = "api"
                self._tree(entry, f"{parts[2]}/{parts[3]}", parts[5])
            elif len(parts) >= 5 and parts[2] == "resolve":
                self._resolve(entry, method, f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]))
            elif len(parts) == 3 and parts[0] == "cdn":
                self._cdn(entry, method, parts[1], parts[2])
            else:
                self._error(entry, 404, "EntryNotFound", "no such endpoint")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- helpers
    def _send(self, entry, status, headers=None, body=b"", head=False):
        entry["status"] = status
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def _error(self, entry, status, code, message, head=False, extra=None):
        body = json.dumps({"error": message}).encode()
        self._send(entry, status, {"X-Error-Code": code, "X-Error-Message": message,
                                   "Content-Type": "application/json", **(extra or {})}, body, head)

    def _repo(self, entry, repo_id, rev, head=False):
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            self._error(entry, 404, "RepoNotFound", f"Repository {repo_id} not found", head)
            return None
        if repo.gated_token and self.headers.get("Authorization") != f"Bearer {repo.gated_token}":
            self._error(entry, 401, "GatedRepo", f"Access to model {repo_id} is restricted", head)
            return None
        if rev not in repo.revisions and rev != repo.commit:
            self._error(entry, 404, "RevisionNotFound", f"Invalid rev id: {rev}", head)
            return None
        return repo

    # -- endpoints
    def _revision_info(self, entry, repo_id, rev, query):
        repo = self._repo(entry, repo_id, rev)
        if repo is None:
            return
        blobs = query.get("blobs", ["false"])[0].lower() == "true"
        siblings = []
        for f in repo.files.values():
            s = {"rfilename": f.path}
            if blobs:
                s["blobId"] = f.blob_id
                s["size"] = f.size
                if f.lfs:
                    s["lfs"] = {"sha256": f.sha256, "size": f.size, "pointerSize": 134}
            siblings.append(s)
        info = {"_id": "0" * 24, "id": repo_id, "modelId": repo_id, "sha": repo.commit,
                "private": False, "gated": bool(repo.gated_token), "disabled": False,
                "downloads": 0, "likes": 0, "tags": [], "siblings": siblings,
                "lastModified": "2024-01-01T00:00:00.000Z", "createdAt": "2024-01-01T00:00:00.000Z"}
        self._send(entry, 200, {"Content-Type": "application/json"}, json.dumps(info).encode())

    def _tree(self, entry, repo_id, rev):
        repo = self._repo(entry, repo_id, rev)
        if repo is None:
            return
        items = []
        for f in repo.files.values():
            item = {"type": "file", "oid": f.blob_id, "size": f.size, "path": f.path}
            if f.lfs:
                item["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": 134}
            items.append(item)
        self._send(entry, 200, {"Content-Type": "application/json"}, json.dumps(items).encode())

    def _resolve(self, entry, method, repo_id, rev, path):
        head = method == "HEAD"
        repo = self._repo(entry, repo_id, rev, head)
        if repo is None:
            return
        f = repo.files.get(path)
        entry["file"] = path
        if f is None:
            self._error(entry, 404, "EntryNotFound", f"{path} does not exist", head)
            return
        common = {"X-Repo-Commit": repo.commit, "Accept-Ranges": "bytes"}
        if f.lfs:
            entry["kind"] = "redirect"
            # Another host name for the same server: clients treat it as a CDN (no token sent).
            location = f"http://localhost:{self.hub.port}/cdn/{urllib.parse.quote(repo_id, safe='')}/{f.sha256}"
            self._send(entry, 302, {**common, "Location": location,
                                    "ETag": f'"{f.blob_id}"',
                                    "X-Linked-Etag": f'"{f.sha256}"',
                                    "X-Linked-Size": str(f.size)}, head=head)
            return
        entry["kind"] = "content"
        self._content(entry, method, repo, f, {**common, "ETag": f'"{f.blob_id}"'})

    def _cdn(self, entry, method, quoted_repo, sha):
        repo = self.hub.repos.get(urllib.parse.unquote(quoted_repo))
        f = next((x for x in repo.files.values() if x.lfs and x.sha256 == sha), None) if repo else None
        if f is None:
            self._error(entry, 404, "EntryNotFound", "no such object", method == "HEAD")
            return
        entry["kind"] = "content"
        entry["file"] = f.path
        self._content(entry, method, repo, f, {"ETag": f'"{sha}"', "Accept-Ranges": "bytes"})

    def _content(self, entry, method, repo, f, headers):
        head = method == "HEAD"
        fault = self.hub.faults.get((repo.repo_id, f.path)) if not head else None
        if fault and fault.statuses:
            code, extra = fault.statuses.pop(0)
            self._error(entry, code, "Injected", f"injected {code}", extra=extra)
            return
        body = f.data
        if fault and fault.corrupt_times > 0:
            fault.corrupt_times -= 1
            mid = len(body) // 2
            body = body[:mid] + bytes([body[mid] ^ 0xFF]) + body[mid + 1:]
        rng = None if (fault and fault.ignore_range) else _parse_range(self.headers.get("Range"), f.size)
        status = 200
        if rng is not None:
            start, end = rng
            if start >= f.size:
                self._send(entry, 416, {"Content-Range": f"bytes */{f.size}"}, head=head)
                return
            headers = {**headers, "Content-Range": f"bytes {start}-{end}/{f.size}"}
            body = body[start:end + 1]
            status = 206
        entry["status"] = status
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if head:
            return
        limit, pause = len(body), 0.0
        cut = False
        if fault and fault.drop_after is not None and fault.drop_times > 0:
            fault.drop_times -= 1
            limit, cut = min(limit, fault.drop_after), True
        elif fault and fault.stall_after is not None and fault.stall_times > 0:
            fault.stall_times -= 1
            limit, pause, cut = min(limit, fault.stall_after), fault.stall_seconds, True
        self._write_body(entry, body[:limit], fault.rate if fault else None)
        if cut:
            if pause:
                time.sleep(pause)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _write_body(self, entry, body: bytes, rate):
        sent = 0
        entry["sent"] = 0
        chunk = 64 * 1024 if rate is None else max(1024, int(rate / 20))
        start = time.monotonic()
        try:
            while sent < len(body):
                piece = body[sent:sent + chunk]
                entry["sent"] += len(piece)  # before the write: the client may exit right after
                self.wfile.write(piece)
                sent += len(piece)
                if rate:
                    ahead = sent / rate - (time.monotonic() - start)
                    if ahead > 0:
                        time.sleep(ahead)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


# ---- shared by the hub tests: fixtures, repositories, running the CLI ---------------------------
import os  # noqa: E402
import subprocess  # noqa: E402

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
PENSIEVE = REPO_ROOT / "build" / "pensieve"


@pytest.fixture
def hub():
    """A fake Hub of its own (own port) for one test."""
    with FakeHub() as h:
        yield h


@pytest.fixture
def hub_env(hub, tmp_path):
    """Environment for `pensieve` against `hub`, with a cache of its own and fast retries."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "PENSIEVE_"))}
    env.update(HF_ENDPOINT=hub.url, HF_HUB_CACHE=str(tmp_path / "hf-cache"),
               HF_HOME=str(tmp_path / "hf-home"), PENSIEVE_HUB_BACKOFF_S="0.05",
               PENSIEVE_HUB_BACKOFF_MAX_S="0.2", PENSIEVE_HUB_TIMEOUT_S="2",
               PENSIEVE_HUB_CONNECT_TIMEOUT_S="2", PENSIEVE_PROGRESS_INTERVAL_S="0.2")
    return env


def pensieve(env, *args, timeout=60):
    return subprocess.run([str(PENSIEVE), *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def random_repo_dir(root: Path, sizes=None, seed=0) -> Path:
    """A repository of a config, a nested small file and random LFS weights (sizes in bytes)."""
    import random
    rnd = random.Random(seed)
    sizes = sizes or {"model-00001-of-00002.safetensors": 3_000_000,
                      "model-00002-of-00002.safetensors": 1_500_000}
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps({"model_type": "phi3", "seed": seed}))
    (root / "docs").mkdir(exist_ok=True)
    (root / "docs" / "README.md").write_text(f"repository {seed}\n")
    for name, size in sizes.items():
        (root / name).write_bytes(rnd.randbytes(size))
    return root


def build_tiny_mlx_model(out: Path) -> Path:
    """A Phi-3 with random weights that mlx_lm.load accepts, with a word-level tokenizer."""
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.models import phi3
    from tokenizers import Tokenizer, models, pre_tokenizers

    out.mkdir(parents=True, exist_ok=True)
    config = dict(model_type="phi3", hidden_size=64, num_hidden_layers=2, intermediate_size=128,
                  num_attention_heads=4, num_key_value_heads=4, rms_norm_eps=1e-5,
                  vocab_size=64, max_position_embeddings=4096,
                  original_max_position_embeddings=4096, rope_theta=10000.0,
                  tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    mx.random.seed(0)
    model = phi3.Model(phi3.ModelArgs(**{k: v for k, v in config.items()
                                         if not k.endswith("token_id")}))
    mx.save_safetensors(str(out / "model.safetensors"), dict(tree_flatten(model.parameters())),
                        metadata={"format": "mlx"})
    (out / "config.json").write_text(json.dumps(config))
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, **{f"w{i}": i for i in range(3, 64)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "unk_token": "<unk>", "bos_token": "<s>",
        "eos_token": "</s>"}))
    return out


def blob_names(cache: Path, repo_id: str):
    blobs = cache / ("models--" + repo_id.replace("/", "--")) / "blobs"
    return sorted(p.name for p in blobs.iterdir()) if blobs.is_dir() else []
