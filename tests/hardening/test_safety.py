"""Safe loading and no network, checked two ways: statically over every module of the package (ast), and at run
time by a representative path (train, decode, BLEU, tokenizer, every import) with outbound sockets refused."""
from __future__ import annotations

import ast
import importlib
import ipaddress
import pkgutil
import socket
from pathlib import Path

import pytest
import torch

import seqgap_lab
from seqgap_lab.core.config import DecodeConfig, SubwordConfig, TrainConfig
from seqgap_lab.data.text.subword import train_subword
from seqgap_lab.decoding import decode_sequences
from seqgap_lab.metrics.text import corpus_scores
from seqgap_lab.zoo import synthetic

PACKAGE = Path(seqgap_lab.__file__).parent
# Network clients and unsafe deserialisers: none may be imported by the package.
FORBIDDEN_IMPORTS = ("requests", "urllib.request", "urllib3", "http.client", "httpx", "aiohttp", "ftplib",
                     "huggingface_hub", "pickle", "dill", "marshal", "shelve")
# Calls that download, or run code while loading.
FORBIDDEN_CALLS = ("yaml.load", "yaml.load_all", "yaml.unsafe_load", "yaml.full_load", "pickle.load", "pickle.loads",
                   "pandas.read_pickle",
                   "socket.create_connection", "hf_hub_download", "snapshot_download", "urlopen", "urlretrieve",
                   "eval", "exec")
# Modules that may import `socket`, and why (each use binds or connects to the loopback address only).
SOCKET_ALLOWED = {"explore_serve.py": "binds 127.0.0.1 to check that the explorer's port is free"}


def _aliases(tree: ast.AST) -> dict[str, str]:
    """Local name -> the dotted name it was imported as (`from yaml import load as l` gives l -> yaml.load)."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update({(a.asname or a.name.split(".")[0]): (a.name if a.asname else a.name.split(".")[0])
                        for a in node.names})
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.update({(a.asname or a.name): f"{node.module}.{a.name}" for a in node.names})
    out.update({"pd": out.get("pd", "pandas"), "np": out.get("np", "numpy")})
    return out


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str:
    """The called name as a dotted string with import aliases resolved, '' when it is not a plain name chain."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ""
    return ".".join([aliases.get(node.id, node.id), *reversed(parts)])


def _keyword_is_true(call: ast.Call, name: str) -> bool:
    return any(k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is True for k in call.keywords)


def _import_problems(node: ast.AST, name: str) -> list[str]:
    modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
    found = [m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN_IMPORTS)]
    if "socket" in modules and name not in SOCKET_ALLOWED:
        found.append("socket (not in SOCKET_ALLOWED)")
    return [f"imports {m}" for m in found]


def _call_problems(call: ast.Call, aliases: dict[str, str]) -> list[str]:
    name = _dotted(call.func, aliases)
    leaf = name.rsplit(".", 1)[-1]
    if name == "torch.load" and not _keyword_is_true(call, "weights_only"):
        return ["torch.load without weights_only=True"]
    if name in FORBIDDEN_CALLS or leaf in ("hf_hub_download", "snapshot_download", "urlopen", "urlretrieve"):
        return [f"calls {name}"]
    if leaf == "from_pretrained" and not _keyword_is_true(call, "local_files_only"):
        return ["from_pretrained without local_files_only=True (it could download)"]
    if name == "numpy.load" and any(k.arg == "allow_pickle" for k in call.keywords):
        return ["numpy.load with allow_pickle"]
    return []


def problems(source: str, name: str) -> list[str]:
    """Every unsafe load or network use in one module's source, as 'line N: what' strings."""
    tree = ast.parse(source)
    aliases = _aliases(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found += [f"line {node.lineno}: {p}" for p in _import_problems(node, name)]
        elif isinstance(node, ast.Call):
            found += [f"line {node.lineno}: {p}" for p in _call_problems(node, aliases)]
    return found


def test_the_checker_catches_what_it_looks_for():
    bad = ("import torch, yaml, pickle\nfrom urllib.request import urlopen\nimport socket\n"
           "from huggingface_hub import hf_hub_download as get\n"
           "torch.load('x')\ntorch.load('x', weights_only=False)\nyaml.load(s)\npickle.loads(b)\nurlopen('u')\n"
           "get('repo', 'f')\nM.from_pretrained('gpt2')\neval('1')\n")
    found = problems(bad, "bad.py")
    assert [int(f.split(":")[0].split()[1]) for f in found] == list(range(1, 13)), found  # each line, once
    good = ("import torch, yaml\ntorch.load('x', map_location='cpu', weights_only=True)\nyaml.safe_load(s)\n"
            "M.from_pretrained('/local/dir', local_files_only=True)\n")
    assert problems(good, "good.py") == []


def test_package_loads_safely_and_never_reaches_the_network():
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 50
    found = {str(p.relative_to(PACKAGE)): problems(p.read_text(encoding="utf-8"), p.name) for p in modules}
    assert not {k: v for k, v in found.items() if v}, found
    loads = sum(p.read_text(encoding="utf-8").count("torch.load(") for p in modules)
    assert loads >= 2, "the checker saw no torch.load at all: is it looking at the package?"


def _is_loopback(address) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX paths are local
        return True
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False  # a host name other than localhost would need DNS: outbound


@pytest.fixture()
def outbound_attempts(monkeypatch) -> list:
    """Refuse, and record, every socket connection or name lookup that leaves this machine."""
    attempts: list = []

    def refuse(address) -> None:
        attempts.append(address)
        raise OSError(f"test: outbound connection to {address!r} refused")

    real_connect, real_connect_ex, real_lookup = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def connect(sock, address):
        return real_connect(sock, address) if _is_loopback(address) else refuse(address)

    def connect_ex(sock, address):
        return real_connect_ex(sock, address) if _is_loopback(address) else refuse(address)

    def getaddrinfo(host, *args, **kwargs):
        return real_lookup(host, *args, **kwargs) if host is None or _is_loopback((host,)) else refuse(host)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return attempts


def test_a_representative_run_makes_no_outbound_connection(outbound_attempts):
    with pytest.raises(OSError, match="refused"):  # the guard is live
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    outbound_attempts.clear()
    for info in pkgutil.walk_packages(seqgap_lab.__path__, "seqgap_lab."):
        importlib.import_module(info.name)  # importing has no side effects: none reaches out either
    from hardening_worker import MODEL, TASK
    run = synthetic.trained_model(TASK, MODEL, TrainConfig(steps=20, batch_size=16, warmup_steps=2, log_every=10),
                                    device="cpu", progress=False)
    assert run.from_cache is False and synthetic.trained_model(TASK, MODEL, TrainConfig(
        steps=20, batch_size=16, warmup_steps=2, log_every=10), device="cpu", progress=False).from_cache
    sources = [s for s, _ in run.splits.test]
    refs = [" ".join(run.task.vocab.decode(t)) for _, t in run.splits.test]
    for method in ("greedy", "beam"):
        hyps = decode_sequences(run.model, sources, DecodeConfig(method=method, max_len=12), torch.device("cpu"))
        scores = corpus_scores([" ".join(run.task.vocab.decode(h)) for h in hyps], refs)
        assert 0.0 <= scores["bleu"] <= 100.0 and scores["bleu_signature"].startswith("nrefs:1|")
    texts = [f"la casa {i} es grande y el perro {i % 7} duerme en el jardin" for i in range(300)]
    vocab = train_subword(texts, SubwordConfig(vocab_size=120), progress=False)
    assert vocab.decode(vocab.encode(texts[3])) == texts[3]
    assert outbound_attempts == []
