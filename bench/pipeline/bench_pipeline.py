#!/usr/bin/env python3
"""`capstan pipeline run` against `dvc repro`, side by side in one run (issue 18).

Cases, each in DVC repositories generated in a temporary directory (`dvc init --no-scm`),
one copy per tool so that each does its own work:
 (a) a chain of 20 stages (tiny shell commands with real deps, a parameter each, file and
     directory outputs) re-run with everything up to date: median wall time of several runs;
 (b) the same after the chain's first dependency changed, so all 20 stages rerun: wall time
     and per-stage overhead = (wall - the commands' own time) / stages run, the commands'
     own time measured by running the same 20 commands directly, one `sh -c` each, in one
     shell (what the runner's child does per stage), in each repetition beside the runs;
     also the CPU time (user + system, the commands included) beyond the direct run's,
     per stage, which load from other work on a shared machine disturbs less than wall;
 (c) 50 independent stages of `sleep 0.2`, forced, with -j N (N = CPUs, and -j 50): wall
     vs the ideal ceil(50/N) * 0.2 s; DVC runs them one after another (its wall for
     reference).
Every Capstan run is checked: `dvc status` must say the pipeline is up to date and the
outputs must exist, with the same content and the same dvc.lock hashes as DVC's.

  bench/pipeline/bench_pipeline.py [--reps 5] [--stages 20] [--parallel 50] [--workdir DIR]
Prints a table whose last line is the headline."""
import argparse
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


CPU = {}


def run(cmd, cwd):
    """Seconds of one command, which must succeed; its CPU seconds (itself and every
    process it waited for: the stages' commands too) are left in CPU["last"]."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    dt = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU["last"] = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
    if p.returncode != 0:
        sys.exit(f"failed in {cwd}: {' '.join(cmd)}\n{p.stdout}")
    return dt, p.stdout


def chain_stage(k, n):
    """Stage k of the chain: its command, deps and outs. Every fourth stage writes a
    directory of three files; the others a file. Each output carries its input forward
    plus the stage's parameter, so a change at the start reaches the end."""
    prev = "raw.txt" if k == 1 else (f"s{k - 1:02d}" if (k - 1) % 4 == 0 else f"s{k - 1:02d}.txt")
    src = f"{prev}/a.txt" if (k - 1) % 4 == 0 and k > 1 else prev
    if k % 4 == 0:
        out = f"s{k:02d}"
        cmd = (f"mkdir -p {out} && cat {src} > {out}/a.txt && echo ${{s{k:02d}.n}} > "
               f"{out}/b.txt && wc -c < {src} > {out}/c.txt")
    else:
        out = f"s{k:02d}.txt"
        cmd = f"cat {src} > {out} && echo stage {k} ${{s{k:02d}.n}} >> {out}"
    return {"cmd": cmd, "deps": [prev], "params": [f"s{k:02d}.n"], "outs": [out]}


def write_chain(repo, n):
    lines = ["stages:"]
    for k in range(1, n + 1):
        st = chain_stage(k, n)
        lines += [f"  s{k:02d}:", f"    cmd: {st['cmd']}", f"    deps: [{st['deps'][0]}]",
                  f"    params: [{st['params'][0]}]", f"    outs: [{st['outs'][0]}]"]
    with open(os.path.join(repo, "dvc.yaml"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(repo, "params.yaml"), "w") as f:
        f.write("".join(f"s{k:02d}:\n  n: {k * 7}\n" for k in range(1, n + 1)))
    with open(os.path.join(repo, "raw.txt"), "w") as f:
        f.write("raw 0\n")


def write_parallel(repo, n):
    lines = ["stages:"]
    for k in range(n):
        lines += [f"  p{k:02d}:", f"    cmd: sleep 0.2 && echo {k} > p{k:02d}.txt",
                  f"    outs: [p{k:02d}.txt]"]
    with open(os.path.join(repo, "dvc.yaml"), "w") as f:
        f.write("\n".join(lines) + "\n")


def new_repo(dvc, path, write, n):
    os.makedirs(path)
    subprocess.run([dvc, "init", "--no-scm", "-q"], cwd=path, check=True)
    # DVC's defaults, except the analytics ping (no network here).
    subprocess.run([dvc, "config", "core.analytics", "false"], cwd=path, check=True)
    write(path, n)


def check_up_to_date(dvc, repo, outs):
    """`dvc status` says up to date and every output exists."""
    _, out = run([dvc, "status"], repo)
    if "Data and pipelines are up to date." not in out:
        sys.exit(f"dvc status in {repo} after capstan's run:\n{out}")
    missing = [o for o in outs if not os.path.exists(os.path.join(repo, o))]
    if missing:
        sys.exit(f"outputs missing in {repo}: {missing}")


def lock_hashes(repo):
    """The md5 lines of dvc.lock: equal hashes mean equal outputs and inputs."""
    with open(os.path.join(repo, "dvc.lock")) as f:
        return sorted(l.strip() for l in f if "md5:" in l)


def same_results(cap_repo, dvc_repo, last):
    for rel in (last, "dvc.lock"):
        a, b = os.path.join(cap_repo, rel), os.path.join(dvc_repo, rel)
        if rel == "dvc.lock":
            if lock_hashes(cap_repo) != lock_hashes(dvc_repo):
                sys.exit(f"dvc.lock hashes differ between {cap_repo} and {dvc_repo}")
        elif open(a).read() != open(b).read():
            sys.exit(f"{rel} differs between {cap_repo} and {dvc_repo}")


def own_script(repo, n):
    """A script of the chain's commands run directly: one `sh -c` per command inside one
    shell, parameters substituted, to run in a scratch copy of the repository."""
    script = []
    for k in range(1, n + 1):
        cmd = chain_stage(k, n)["cmd"].replace("${s%02d.n}" % k, str(k * 7))
        script.append("sh -c '%s'" % cmd.replace("'", "'\\''"))
    path = os.path.join(repo, "own.sh")
    with open(path, "w") as f:
        f.write("\n".join(script) + "\n")
    return ["sh", "-e", path]


def loadavg():
    return open("/proc/loadavg").read().split()[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--stages", type=int, default=20)
    ap.add_argument("--parallel", type=int, default=50)
    ap.add_argument("--capstan", default=os.path.join(ROOT, "build/rel/capstan"))
    ap.add_argument("--dvc", default=os.path.join(ROOT, ".venv-dvc/bin/dvc"))
    ap.add_argument("--workdir", default=None)
    a = ap.parse_args()
    work = a.workdir or tempfile.mkdtemp(prefix="bench-pipeline-")
    n, reps, ncpu = a.stages, a.reps, os.cpu_count()
    cap_run = lambda repo, *args: run([a.capstan, "pipeline", "run", *args], repo)
    dvc_run = lambda repo, *args: run([a.dvc, "repro", *args], repo)
    print(f"# work {work}; load average {loadavg()} at the start", flush=True)

    chain = {t: os.path.join(work, f"chain-{t}") for t in ("cap", "dvc", "own")}
    for path in chain.values():
        new_repo(a.dvc, path, write_chain, n)
    outs = [chain_stage(k, n)["outs"][0] for k in range(1, n + 1)]
    last = outs[-1] + "/a.txt" if n % 4 == 0 else outs[-1]
    first_c, _ = cap_run(chain["cap"])
    first_d, _ = dvc_run(chain["dvc"])
    check_up_to_date(a.dvc, chain["cap"], outs)
    same_results(chain["cap"], chain["dvc"], last)
    rows = [(f"first run, {n} stages", first_c, first_d)]

    # (a) nothing changed: every stage is skipped.
    ca = statistics.median(cap_run(chain["cap"])[0] for _ in range(reps))
    da = statistics.median(dvc_run(chain["dvc"])[0] for _ in range(reps))
    check_up_to_date(a.dvc, chain["cap"], outs)
    rows.append((f"(a) {n} stages up to date", ca, da))
    cs = statistics.median(run([a.capstan, "pipeline", "status"], chain["cap"])[0]
                           for _ in range(reps))
    ds = statistics.median(run([a.dvc, "status"], chain["dvc"])[0] for _ in range(reps))
    rows.append((f"    status, {n} stages up to date", cs, ds))

    # (b) the first dependency changed: all n stages rerun. The commands' own time is
    # measured in each repetition beside the two runs, so that load from other work on the
    # machine falls on all three alike; overheads are medians of per-repetition differences.
    own_cmd = own_script(chain["own"], n)
    cb, db, own, cpu_c, cpu_o = [], [], [], [], []
    for r in range(reps):
        for repo in chain.values():
            with open(os.path.join(repo, "raw.txt"), "w") as f:
                f.write(f"raw {r + 1}\n")
        own.append(run(own_cmd, chain["own"])[0])
        cpu_o.append(CPU["last"])
        t, log = cap_run(chain["cap"])
        cpu_c.append(CPU["last"])
        if f"{n} ran," not in log:
            sys.exit(f"(b) expected {n} stages to run:\n{log}")
        cb.append(t)
        db.append(dvc_run(chain["dvc"])[0])
        check_up_to_date(a.dvc, chain["cap"], outs)
        same_results(chain["cap"], chain["dvc"], last)
    over_c = statistics.median(c - o for c, o in zip(cb, own)) / n * 1000
    over_d = statistics.median(d - o for d, o in zip(db, own)) / n * 1000
    cpu_over = statistics.median(c - o for c, o in zip(cpu_c, cpu_o)) / n * 1000
    own_s = ", ".join(f"{o:.3f}" for o in own)
    cb_s = ", ".join(f"{c:.3f}" for c in cb)
    cb, db, own = statistics.median(cb), statistics.median(db), statistics.median(own)
    rows.append((f"(b) first dep changed, {n} stages rerun", cb, db))

    # (c) independent sleeps, forced so that every stage runs each time.
    par = {t: os.path.join(work, f"par-{t}") for t in ("cap", "dvc")}
    for path in par.values():
        new_repo(a.dvc, path, write_parallel, a.parallel)
    pouts = [f"p{k:02d}.txt" for k in range(a.parallel)]
    dc, _ = dvc_run(par["dvc"], "--force")
    par_rows = []
    for j in sorted({ncpu, a.parallel}):
        ts = []
        for _ in range(reps):
            t, log = cap_run(par["cap"], "--force", "-j", str(j))
            if f"{a.parallel} ran," not in log:
                sys.exit(f"(c) expected {a.parallel} stages to run:\n{log}")
            check_up_to_date(a.dvc, par["cap"], pouts)
            ts.append(t)
        ideal = math.ceil(a.parallel / j) * 0.2
        par_rows.append((j, statistics.median(ts), ideal))

    print(f"{'case':<44} {'capstan s':>10} {'dvc s':>10} {'ratio':>8}")
    for name, c, d in rows:
        print(f"{name:<44} {c:10.3f} {d:10.3f} {d / c:7.1f}x")
    print(f"(b) commands' own time {own:.3f} s ({own_s}); capstan runs {cb_s}")
    print(f"(b) per-stage overhead (wall - own) / {n}: capstan {over_c:.2f} ms, "
          f"dvc {over_d:.1f} ms; capstan's CPU time per stage beyond the commands' "
          f"{cpu_over:.2f} ms")
    for j, t, ideal in par_rows:
        print(f"(c) {a.parallel} x sleep 0.2, -j {j:<3} capstan {t:7.3f} s, ideal {ideal:.1f} s "
              f"({(t / ideal - 1) * 100:+.1f}%); dvc (serial) {dc:.2f} s")
    cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"],
                         capture_output=True, text=True).stdout.strip()
    print(f"# CPU: {cpu}, {ncpu} CPUs; load average {loadavg()} at the end; median of {reps}")
    j0 = par_rows[0]
    print(f"headline: (a) {da / ca:.1f}x faster than dvc repro up to date; (b) {db / cb:.1f}x, "
          f"{over_c:.2f} ms per stage; (c) -j {j0[0]} {(j0[1] / j0[2] - 1) * 100:+.1f}% of ideal")
    if not a.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
