"""pipeline/'s dvc.yaml reading against DVC's own: for generated repositories
(plain, vars + params.yaml + ${}, foreach over lists and mappings, matrix,
wdir, list commands, every params form) `capstan pipeline show --json` must
give the stage names, commands, wdirs, deps, outs and params that DVC 3.67.1
resolves, and `capstan pipeline dag` the edges of DVC's stage graph. Bad
inputs are refused with a message naming what is wrong.

DVC runs from .venv-dvc (scripts/bootstrap) as a subprocess, each repository
in the test's tmp_path after `dvc init --no-scm`."""
import json
import os
import subprocess
import textwrap

import pytest

from conftest import BIN
from test_dvc_formats import DVC, dvc  # noqa: F401 (the fixture: fails in CI without DVC)

DVC_PY = os.path.join(os.path.dirname(DVC), "python")

# Prints DVC's resolution of a repository as JSON.
DVC_SHOW = r"""
import json, os, sys
from dvc.repo import Repo
from dvc.dependency import ParamsDependency
root = os.path.realpath(sys.argv[1])
r = Repo(root)
stages = []
for s in r.index.stages:
    params, deps = [], []
    for d in s.deps:
        if isinstance(d, ParamsDependency):
            params.append([d.def_path, list(d.params)])
        else:
            deps.append(d.def_path)
    stages.append({"name": s.name, "cmd": s.cmd if isinstance(s.cmd, list) else [s.cmd],
                   "wdir": os.path.relpath(s.wdir, root), "deps": deps, "params": params,
                   "outs": [[o.def_path, "metrics" if o.metric else "plots" if o.plot else "outs",
                             o.use_cache, o.persist] for o in s.outs],
                   "frozen": s.frozen, "always_changed": s.always_changed, "desc": s.desc})
edges = sorted([a.name, b.name] for a, b in r.index.graph.edges)
print(json.dumps({"stages": stages, "edges": edges}))
"""


def dvc_env(tmp_path):
    env = dict(os.environ)
    env.update(DVC_NO_ANALYTICS="1", DVC_SITE_CACHE_DIR=str(tmp_path / "site-cache"),
               DVC_GLOBAL_CONFIG_DIR=str(tmp_path / "dvc-global"),
               DVC_SYSTEM_CONFIG_DIR=str(tmp_path / "dvc-system"))
    return env


def make_repo(dvc, tmp_path, name, files):
    repo = tmp_path / name
    repo.mkdir()
    for rel, text in files.items():
        p = repo / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip("\n"))
    subprocess.run([dvc, "init", "--no-scm", "-q"], cwd=repo, check=True, env=dvc_env(tmp_path))
    return repo


def capstan(*args, check=True):
    p = subprocess.run([BIN, "pipeline", *args], capture_output=True, text=True)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def dvc_view(tmp_path, repo):
    p = subprocess.run([DVC_PY, "-c", DVC_SHOW, str(repo)], capture_output=True, text=True,
                       env=dvc_env(tmp_path), cwd=repo)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def capstan_view(repo):
    spec = json.loads(capstan("show", "--repo", str(repo), "--json").stdout)
    stages, edges = [], []
    for s in spec["stages"]:
        files = {}
        for p in s["params"]:
            keys = files.setdefault(p["file"], [])
            if p["key"] is not None:
                keys.append(p["key"])
        stages.append({"name": s["name"], "cmd": s["cmd"], "wdir": s["wdir"], "deps": s["deps"],
                       "params": [[f, k] for f, k in files.items()],
                       "outs": [[o["path"], o["kind"], o["cache"], o["persist"]] for o in s["outs"]],
                       "frozen": s["frozen"], "always_changed": s["always_changed"],
                       "desc": s["desc"]})
        edges += [[s["name"], a] for a in s["after"]]
    return {"stages": stages, "edges": sorted(edges)}


REPOS = {
    "plain": {
        "dvc.yaml": """
            stages:
              prepare:
                cmd: python prepare.py raw.csv
                deps: [prepare.py, raw.csv]
                outs: [data/prepared]
                desc: split the raw data
              train:
                cmd: python train.py
                deps: [data/prepared/train.csv, train.py]
                outs:
                  - model.pkl
                  - cache_dir:
                      cache: false
                      persist: true
                metrics:
                  - metrics.json:
                      cache: false
                plots: [plots/roc.csv]
                frozen: true
              report:
                cmd: cat metrics.json
                deps: [metrics.json, data]
                always_changed: true
            """,
    },
    "vars": {
        "params.yaml": """
            lr: 0.10
            epochs: 10
            tiny: 0.00001
            huge: 1.0e+20
            whole: 3.0
            on: true
            name: "resnet 50"
            model: {depth: 3, layers: [64, 128]}
            """,
        "more.yaml": """
            extra: {seed: 7}
            unused: 1
            """,
        "dvc.yaml": """
            vars:
              - more.yaml:extra
              - local: {out: result}
            stages:
              train:
                cmd: >-
                  python train.py --lr ${lr} --epochs ${epochs} --tiny ${tiny}
                  --huge ${huge} --whole ${whole} --on ${on} --name ${name}
                  --d ${model.depth} --l ${model.layers[1]} --seed ${extra.seed} \\${literal}
                deps: [train.py]
                outs: ["${local.out}/model.pkl"]
                params: [lr, epochs, model.depth]
              args:
                cmd: python fit.py ${model}
                deps: ["${local.out}/model.pkl"]
                outs: [fit.txt]
            """,
    },
    "foreach": {
        "params.yaml": """
            regions: [us, eu, 3, 1.5, true]
            sizes: {small: {n: 1}, large: {n: 100}}
            """,
        "dvc.yaml": """
            stages:
              fetch:
                foreach: ${regions}
                do:
                  cmd: fetch ${item}
                  outs: ["raw/${item}.csv"]
              size:
                foreach: ${sizes}
                do:
                  cmd: gen --n ${item.n} --name ${key}
                  deps: [raw/us.csv]
                  outs: ["gen/${key}"]
              inline:
                foreach:
                  - {a: 1, b: x}
                  - {a: 2, b: y}
                do:
                  cmd: echo ${item.a} ${item.b}
                  deps: [gen]
                  outs: ["inline/${item.b}"]
              lit:
                foreach: [x, false, 2.50, null, "${regions[1]}"]
                do:
                  cmd: echo ${item}
              literal:
                foreach: {first: 1, second: 2}
                do:
                  cmd: echo ${key}=${item}
            """,
    },
    "matrix": {
        "params.yaml": """
            models: [svm, tree]
            switches: [true, false]
            """,
        "dvc.yaml": """
            stages:
              fit:
                matrix:
                  model: ${models}
                  lr: [0.1, 0.01]
                  cfg: [{d: 1}, {d: 2}]
                  flag: [true, false]
                  sw: ${switches}
                cmd: fit ${item.model} ${item.lr} ${item.cfg.d} ${item.flag} ${item.sw} ${key}
                outs: ["models/${key}.pkl"]
              pick:
                cmd: pick
                deps: [models]
                outs: [best.pkl]
            """,
    },
    "wdir": {
        "sub/params.yaml": """
            depth: 4
            """,
        "dvc.yaml": """
            stages:
              gen:
                wdir: sub
                cmd: [echo one, echo two]
                outs: [../shared/data.csv, local.txt]
              use:
                wdir: other/deeper
                cmd: use
                deps: [../../shared]
                outs: [res]
              top:
                cmd: top
                deps: [sub/local.txt, other/deeper/res/part]
              params_in_wdir:
                wdir: sub
                cmd: echo
                params: [depth]
            """,
    },
    "params": {
        "params.yaml": "a: 1\nb: {c: 2}\n",
        "custom.yaml": "x: 1\ny: 2\n",
        "whole.json": '{"k": 1}\n',
        "dvc.yaml": """
            stages:
              keys:
                cmd: k
                params:
                  - a
                  - b.c
                  - custom.yaml: [x, y]
                  - whole.json:
              wholly_default:
                cmd: w
                params:
                  - a
                  - params.yaml:
                  - custom.yaml: []
              producer:
                cmd: p
                outs: [gen_params.yaml]
              consumer:
                cmd: c
                params:
                  - gen_params.yaml: [lr]
            """,
    },
}


@pytest.mark.parametrize("name", sorted(REPOS))
def test_show_matches_dvc(dvc, tmp_path, name):
    repo = make_repo(dvc, tmp_path, name, REPOS[name])
    want = dvc_view(tmp_path, repo)
    got = capstan_view(repo)
    assert [s["name"] for s in got["stages"]] == [s["name"] for s in want["stages"]]
    for g, w in zip(got["stages"], want["stages"]):
        assert g == w, g["name"]
    assert got["edges"] == want["edges"]


def test_dag_text_and_dot(dvc, tmp_path):
    repo = make_repo(dvc, tmp_path, "dag", REPOS["plain"])
    text = capstan("dag", "--repo", str(repo)).stdout
    assert text == "prepare\ntrain <- prepare\nreport <- train, prepare\n"
    assert capstan("dag", "train", "--repo", str(repo)).stdout == "prepare\ntrain <- prepare\n"
    dot = capstan("dag", "--dot", "--repo", str(repo)).stdout
    assert '"prepare" -> "train";' in dot and '"train" -> "report";' in dot
    assert dot.startswith("strict digraph {")
    bad = capstan("dag", "nosuch", "--repo", str(repo), check=False)
    assert bad.returncode == 1 and "no stage 'nosuch'" in bad.stderr
    # DVC's own dot graph has the same edges (its arrows point the same way).
    p = subprocess.run([dvc, "dag", "--dot"], cwd=repo, capture_output=True, text=True,
                       env=dvc_env(tmp_path))
    assert p.returncode == 0, p.stderr
    for edge in ('"prepare" -> "train"', '"train" -> "report"'):
        assert edge in p.stdout


def test_capstan_yaml(dvc, tmp_path):
    files = dict(REPOS["foreach"])
    files["capstan.yaml"] = """
        stages:
          fetch: {retries: 2, backoff: 0.5, env: {A: 1, B: x}}
          fetch@us: {retries: 5, timeout: 30, resources: {cpu: 500m, memory: 1Gi}}
        """
    repo = make_repo(dvc, tmp_path, "settings", files)
    spec = {s["name"]: s for s in json.loads(capstan("show", "--repo", str(repo),
                                                     "--json").stdout)["stages"]}
    us, eu, size = spec["fetch@us"], spec["fetch@eu"], spec["size@small"]
    assert (us["retries"], us["backoff"], us["timeout"]) == (5, 0.5, 30)
    assert (us["cpu"], us["memory"]) == ("500m", "1Gi")
    assert (eu["retries"], eu["backoff"], eu["timeout"], eu["env"]) == (2, 0.5, 0, ["A=1", "B=x"])
    assert (size["retries"], size["backoff"], size["timeout"], size["env"]) == (0, 1, 0, [])


BAD = [
    ("unknown field", {"dvc.yaml": "stages:\n  a:\n    cmd: x\n    retry: 3\n"},
     "dvc.yaml:4:12: stages.a: unknown field 'retry', which Capstan does not support"),
    ("unknown top field", {"dvc.yaml": "stage:\n  a:\n    cmd: x\n"},
     "dvc.yaml:2:3: dvc.yaml: unknown field 'stage'"),
    ("no cmd", {"dvc.yaml": "stages:\n  a:\n    deps: [x]\n"},
     "dvc.yaml:3:5: stages.a has no 'cmd', expected the command to run"),
    ("undefined var", {"dvc.yaml": "stages:\n  a:\n    cmd: echo ${nope.x}\n"},
     "dvc.yaml:3:10: stages.a.cmd: '${nope.x}' is not defined"),
    ("bad expression", {"dvc.yaml": "vars: [{a: 1}]\nstages:\n  a:\n    cmd: echo ${a..b}\n"},
     "stages.a.cmd: '${a..b}' is not a valid expression"),
    ("list in string", {"dvc.yaml": "vars: [{l: [1, 2]}]\nstages:\n  a:\n    cmd: echo ${l}\n"},
     "cannot interpolate '${l}', a list, inside a string"),
    ("dict in deps", {"dvc.yaml": "vars: [{m: {a: 1}}]\nstages:\n  a:\n    cmd: x\n"
                      "    deps: ['${m}']\n"},
     "stages.a.deps: cannot interpolate '${m}', a dict"),
    ("duplicate output", {"dvc.yaml": "stages:\n  a:\n    cmd: x\n    outs: [o]\n"
                          "  b:\n    cmd: y\n    outs: [o]\n"},
     "the output 'o' is in stage 'a' and in stage 'b'"),
    ("overlapping outputs", {"dvc.yaml": "stages:\n  a:\n    cmd: x\n    outs: [d]\n"
                             "  b:\n    cmd: y\n    outs: [d/sub]\n"},
     "the outputs 'd' (stage 'a') and 'd/sub' (stage 'b') overlap"),
    ("cycle", {"dvc.yaml": "stages:\n  a:\n    cmd: x\n    deps: [c]\n    outs: [a]\n"
               "  b:\n    cmd: y\n    deps: [a]\n    outs: [b]\n"
               "  c:\n    cmd: z\n    deps: [b]\n    outs: [c]\n"},
     "the stages form a cycle: 'a' -> 'c' -> 'b' -> 'a'"),
    ("self cycle", {"dvc.yaml": "stages:\n  a:\n    cmd: x\n    deps: [o/in]\n    outs: [o]\n"},
     "the stages form a cycle: 'a' -> 'a'"),
    ("toml params", {"dvc.yaml": "stages:\n  a:\n    cmd: x\n    params:\n"
                     "      - pyproject.toml: [tool]\n"},
     "'pyproject.toml' is a TOML file, which Capstan cannot read"),
    ("toml vars", {"dvc.yaml": "vars: [conf.toml]\nstages:\n  a:\n    cmd: x\n",
                   "conf.toml": "a = 1\n"},
     "conf.toml' is a TOML file, which Capstan cannot read"),
    ("missing vars file", {"dvc.yaml": "vars: [nope.yaml]\nstages:\n  a:\n    cmd: x\n"},
     "cannot load vars 'nope.yaml'"),
    ("redefined var", {"dvc.yaml": "vars: [{lr: 2}]\nstages:\n  a:\n    cmd: x\n",
                       "params.yaml": "lr: 1\n"},
     "cannot redefine 'lr'"),
    ("foreach of a string", {"dvc.yaml": "vars: [{s: abc}]\nstages:\n  a:\n    foreach: ${s}\n"
                             "    do:\n      cmd: x\n"},
     "stages.a.foreach is a str, expected a list or a mapping"),
    ("foreach without do", {"dvc.yaml": "stages:\n  a:\n    foreach: [1]\n    cmd: x\n"},
     "stages.a: unknown field 'cmd'"),
    ("wrong type", {"dvc.yaml": "stages:\n  a:\n    cmd: x\n    frozen: maybe\n"},
     "dvc.yaml:4:13: stages.a.frozen is a str, expected true or false"),
    ("bad out flag", {"dvc.yaml": "stages:\n  a:\n    cmd: x\n    outs:\n      - o:\n"
                      "          cache: 1\n"},
     "stages.a.outs[0].cache is a int, expected true or false"),
    ("bad yaml", {"dvc.yaml": "stages:\n  a: [\n"}, "dvc.yaml:3:1: not valid YAML"),
    ("capstan.yaml unknown stage", {"dvc.yaml": "stages:\n  a:\n    cmd: x\n",
                                    "capstan.yaml": "stages:\n  b: {retries: 1}\n"},
     "capstan.yaml:2:6: stages.b names no stage of dvc.yaml"),
    ("capstan.yaml bad retries", {"dvc.yaml": "stages:\n  a:\n    cmd: x\n",
                                  "capstan.yaml": "stages:\n  a: {retries: -1}\n"},
     "stages.a.retries is -1, expected a whole number from 0 to 1000"),
    ("capstan.yaml unknown key", {"dvc.yaml": "stages:\n  a:\n    cmd: x\n",
                                  "capstan.yaml": "stages:\n  a: {gpus: 1}\n"},
     "stages.a: unknown field 'gpus'"),
]


@pytest.mark.parametrize("name,files,message", BAD, ids=[b[0] for b in BAD])
def test_bad_input(dvc, tmp_path, name, files, message):
    repo = make_repo(dvc, tmp_path, "bad", files)
    p = capstan("show", "--repo", str(repo), check=False)
    assert p.returncode == 1, p.stdout
    assert message in p.stderr
    assert "AddressSanitizer" not in p.stderr and "runtime error" not in p.stderr
