"""Drift benchmark: `capstan monitor drift` against Evidently's DataDriftPreset and the peers'
scipy loop, side by side in one run, on the peers' data (1,000,000 x 28 reference, seed 42;
100,000 x 28 current, seed 7; ../shared/bench/peers/gen_data.py run as a program, so the files
are byte for byte the peers' files).

Targets, each a whole process under /usr/bin/time -v (wall time and peak RSS, file reading
included, since that is what a user waits for):
  capstan       build/rel/capstan monitor drift --columns f0..f27 --json: Evidently's default
                tests (28 numerical columns, 1M-row reference: normed Wasserstein distance)
  capstan_ks    the same with --stattest ks, the test the scipy loop runs
  evidently     Evidently 0.7's Report([DataDriftPreset(columns=f0..f27)]) (peer_evidently.py:
                pandas read_csv, then the report), capped by --evidently-timeout
  scipy         the peers' bench_drift.py functions (peer_scipy.py: pandas read_csv, then
                ks_2samp per feature and its 10-bin PSI)
capstan and scipy run --repeat times (median wall, largest peak RSS); Evidently once.

Agreement: capstan's default scores against Evidently's (same test, 1e-9 relative, the same
number of drifted columns and dataset verdict); capstan_ks's p-values against ks_2samp's.
The last line is the headline: Evidently's and scipy's wall time over capstan's.

It reports; it never asserts. Exit status 1 only when capstan could not be measured."""
import argparse
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
PEERS = os.environ.get("PEERS", os.path.abspath(os.path.join(REPO, "..", "shared", "bench", "peers")))
COLUMNS = [f"f{i}" for i in range(28)]
REL, ABS = 1e-9, 1e-12
# Evidently's display names of the tests this data can get (capstan may give the id)
DISPLAY = {"wasserstein": "Wasserstein distance (normed)", "ks": "K-S p_value",
           "jensenshannon": "Jensen-Shannon distance", "z": "Z-test p_value",
           "chisquare": "chi-square p_value"}


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def md5(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def make_data(tmp, rows, cur_rows):
    """The peers' files, generated once per size (same rows and seed: the same bytes)."""
    out = []
    for n, seed, name in ((rows, 42, "train"), (cur_rows, 7, "test")):
        path = os.path.join(tmp, f"{name}_{n}_s{seed}.csv")
        if not os.path.exists(path):
            log(f"generating {path}")
            subprocess.run([sys.executable, os.path.join(PEERS, "gen_data.py"), "--rows", str(n),
                            "--seed", str(seed), "--out", path + ".part"], check=True)
            os.replace(path + ".part", path)
        out.append(path)
    return out


def timed(cmd, timeout):
    """Runs cmd under /usr/bin/time -v: (rc, wall s, peak RSS MiB, stdout, stderr)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        t0 = time.perf_counter()
        try:
            p = subprocess.run(["/usr/bin/time", "-v", "-o", tf.name, *cmd], capture_output=True,
                               text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, time.perf_counter() - t0, None, "", f"timed out after {timeout} s"
        wall = time.perf_counter() - t0
        text = tf.read()
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    w = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", text)
    if w:  # time's own figure: the child only, without our fork/exec
        wall = int(w.group(1) or 0) * 3600 + int(w.group(2)) * 60 + float(w.group(3))
    rss = int(m.group(1)) / 1024 if m else None
    return p.returncode, wall, rss, p.stdout, p.stderr


def measure(name, cmd, repeat, timeout):
    walls, rsss, last = [], [], None
    for i in range(repeat):
        rc, wall, rss, out, err = timed(cmd, timeout)
        if rc != 0:
            log(f"{name}: {'timed out' if rc is None else f'exit {rc}'}: {err.strip()[-500:]}")
            return {"ok": False, "wall": wall, "rss": rss, "error": err.strip()[-200:] or f"exit {rc}"}
        walls.append(wall)
        rsss.append(rss)
        last = out
        log(f"{name} run {i + 1}/{repeat}: {wall:.3f} s, peak RSS {rss:.0f} MiB")
    return {"ok": True, "wall": statistics.median(walls), "walls": walls, "rss": max(rsss),
            "stdout": last}


def close(a, b):
    return abs(a - b) <= max(ABS, REL * abs(b))


def agree_evidently(ours, ev):
    """capstan's default report against DataDriftPreset's values: a sentence."""
    cols = {c["column"]: c for c in ours["columns"]}
    bad = []
    worst = 0.0
    for name in COLUMNS:
        c, e = cols.get(name), ev["columns"].get(name)
        if c is None or e is None:
            bad.append(f"{name} missing")
            continue
        if e["method"] not in (c["stattest"], DISPLAY.get(c["stattest"])):
            bad.append(f"{name}: test {c['stattest']} vs {e['method']}")
        if not close(c["drift_score"], e["score"]):
            bad.append(f"{name}: {c['drift_score']!r} vs {e['score']!r}")
        if e["score"]:
            worst = max(worst, abs(c["drift_score"] - e["score"]) / abs(e["score"]))
    if ours["number_of_drifted_columns"] != ev.get("drifted_count"):
        bad.append(f"drifted columns {ours['number_of_drifted_columns']} vs {ev.get('drifted_count')}")
    if bad:
        return f"DIFFER ({len(bad)}: {'; '.join(bad[:3])})"
    return f"agree: 28/28 scores (max rel diff {worst:.1e}), {ours['number_of_drifted_columns']} drifted"


def agree_scipy(ours, sc):
    cols = {c["column"]: c for c in ours["columns"]}
    bad, worst = [], 0.0
    for name in COLUMNS:
        p = sc["ks_pvalue"][name]
        q = cols[name]["drift_score"] if name in cols else None
        if q is None or not close(q, p):
            bad.append(f"{name}: {q!r} vs {p!r}")
        elif p:
            worst = max(worst, abs(q - p) / abs(p))
    if bad:
        return f"DIFFER ({len(bad)}: {'; '.join(bad[:3])})"
    return f"agree: 28/28 K-S p-values (max rel diff {worst:.1e})"


def machine():
    model, flags = "?", ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and model == "?":
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                have = set(line.split(":", 1)[1].split())
                flags = " ".join(x for x in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw",
                                             "avx512vl") if x in have)
    return f"{model}, {os.cpu_count()} CPUs ({flags})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=int(os.environ.get("ROWS", 1_000_000)))
    ap.add_argument("--cur-rows", type=int, default=int(os.environ.get("CUR_ROWS", 100_000)))
    ap.add_argument("--repeat", type=int, default=int(os.environ.get("REPEAT", 3)))
    ap.add_argument("--evidently-timeout", type=float,
                    default=float(os.environ.get("EVIDENTLY_TIMEOUT", 1800)))
    ap.add_argument("--targets", default=os.environ.get("TARGETS", "capstan,capstan_ks,evidently,scipy"))
    ap.add_argument("--capstan", default=os.environ.get("CAPSTAN", os.path.join(REPO, "build", "rel", "capstan")))
    ap.add_argument("--tmp", default=os.environ.get("BENCH_TMP", "/tmp/capstan-bench-monitor"))
    a = ap.parse_args()
    os.makedirs(a.tmp, exist_ok=True)
    targets = a.targets.split(",")
    ref, cur = make_data(a.tmp, a.rows, a.cur_rows)
    print(f"machine: {machine()}")
    print(f"command: {os.environ.get('BENCH_COMMAND', 'bench/monitor/run.sh')}")
    print(f"data: {ref} ({os.path.getsize(ref) / 1e6:.1f} MB, md5 {md5(ref)}), "
          f"{cur} ({os.path.getsize(cur) / 1e6:.1f} MB, md5 {md5(cur)})")
    cols = ",".join(COLUMNS)
    base = [a.capstan, "monitor", "drift", "--reference", ref, "--current", cur, "--columns", cols,
            "--json"]
    res = {}
    if "capstan" in targets:
        res["capstan"] = measure("capstan", base, a.repeat, 600)
    if "capstan_ks" in targets:
        res["capstan_ks"] = measure("capstan_ks", base + ["--stattest", "ks"], a.repeat, 600)
    ev_out = os.path.join(a.tmp, "evidently.json")
    sc_out = os.path.join(a.tmp, "scipy.json")
    if "evidently" in targets:
        log(f"evidently: one run, capped at {a.evidently_timeout:.0f} s")
        res["evidently"] = measure("evidently", [sys.executable, os.path.join(HERE, "peer_evidently.py"),
                                                 ref, cur, ev_out, cols], 1, a.evidently_timeout)
    if "scipy" in targets:
        res["scipy"] = measure("scipy", [sys.executable, os.path.join(HERE, "peer_scipy.py"), PEERS,
                                         ref, cur, sc_out], a.repeat, 1800)
    report(res, ev_out, sc_out)
    return 0 if res.get("capstan", {}).get("ok") else 1


def report(res, ev_out, sc_out):
    ours = json.loads(res["capstan"]["stdout"]) if res.get("capstan", {}).get("ok") else None
    ours_ks = json.loads(res["capstan_ks"]["stdout"]) if res.get("capstan_ks", {}).get("ok") else None
    ev = json.load(open(ev_out)) if res.get("evidently", {}).get("ok") else None
    sc = json.load(open(sc_out)) if res.get("scipy", {}).get("ok") else None
    rows = []
    for name, label in (("capstan", "capstan monitor drift (default tests: Wasserstein)"),
                        ("capstan_ks", "capstan monitor drift --stattest ks"),
                        ("evidently", "Evidently DataDriftPreset"),
                        ("scipy", "scipy ks_2samp loop + numpy PSI (peers)")):
        r = res.get(name)
        if r is None:
            continue
        if not r["ok"]:
            rows.append((label, f">{r['wall']:.1f}" if "timed out" in r["error"] else "failed",
                         "-", r["error"][:80]))
            continue
        note = ""
        if name == "capstan" and ev:
            note = agree_evidently(ours, ev)
        elif name == "capstan_ks" and sc:
            note = agree_scipy(ours_ks, sc)
        elif name == "evidently":
            note = (f"import {ev['import_s']:.1f} s, read_csv {ev['load_s']:.1f} s, "
                    f"report {ev['compute_s']:.1f} s (evidently {ev['version']})")
        elif name == "scipy":
            note = (f"import {sc['import_s']:.1f} s, read_csv {sc['load_s']:.1f} s, ks {sc['ks_s']:.2f} s, "
                    f"psi {sc['psi_s']:.2f} s (scipy {sc['version']})")
        walls = "/".join(f"{w:.2f}" for w in r["walls"])
        rows.append((label, f"{r['wall']:.2f} ({walls})", f"{r['rss']:.0f}", note))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows + [("", "wall s (runs)")])
    print(f"{'target':<{w0}}  {'wall s (runs)':>{w1}}  {'peak RSS MiB':>12}  statistics")
    for r in rows:
        print(f"{r[0]:<{w0}}  {r[1]:>{w1}}  {r[2]:>12}  {r[3]}")
    c = res.get("capstan")
    if not (c and c["ok"]):
        print("headline: capstan could not be measured")
        return
    parts = [f"capstan {c['wall']:.2f} s, {c['rss']:.0f} MiB"]
    e = res.get("evidently")
    if e and e["ok"]:
        parts.append(f"Evidently {e['wall']:.1f} s, {e['rss']:.0f} MiB: {e['wall'] / c['wall']:.0f}x faster, "
                     f"{e['rss'] / c['rss']:.1f}x less memory")
    elif e:
        parts.append(f"Evidently did not finish in {e['wall']:.0f} s: > {e['wall'] / c['wall']:.0f}x faster")
    s, k = res.get("scipy"), res.get("capstan_ks")
    if s and s["ok"] and k and k["ok"]:
        parts.append(f"scipy loop {s['wall']:.1f} s vs capstan --stattest ks {k['wall']:.2f} s: "
                     f"{s['wall'] / k['wall']:.1f}x")
    print("headline: " + "; ".join(parts))


if __name__ == "__main__":
    sys.exit(main())
