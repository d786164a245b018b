#!/usr/bin/env python3
"""`capstan data add` against `dvc add`, side by side in one run (issue 17).

Cases: (a) one large file, (b) many small files, (c) re-add of (b) with nothing
changed, (d) re-add of (b) with one file changed. Both tools read the same trees,
inside one DVC repository (DVC adds only files inside its repository); the page
cache is warmed by reading every file first, so neither pays the disk for the
other. Each command runs under GNU time for its wall time and peak RSS.

  bench/data/bench_add.py [--big-gb 2] [--files 100000] [--total-mb 1000]
Prints a table whose last line is the headline ratio."""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def timed(cmd, cwd=None):
    """(seconds, peak RSS MiB) of one command, which must succeed."""
    out = tempfile.mktemp()
    p = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", out, *cmd], cwd=cwd,
                       capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    wall, rss = open(out).read().split()[-2:]
    os.unlink(out)
    return float(wall), int(rss) / 1024


def write_big(path, gb):
    chunk = os.urandom(64 << 20)
    with open(path, "wb") as f:
        for i in range(gb * 16):
            f.write(chunk[i:] + chunk[:i])


def write_small(root, n, total_mb):
    size = total_mb * 1000 * 1000 // n
    blob = os.urandom(size + n)
    for i in range(n):
        d = os.path.join(root, f"d{i % 100:02d}")
        if i < 100:
            os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i:06d}.bin"), "wb") as f:
            f.write(blob[i:i + size])


def warm(path):
    subprocess.run(["sh", "-c", f"find '{path}' -type f -print0 | xargs -0 cat > /dev/null"],
                   check=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--big-gb", type=int, default=2)
    ap.add_argument("--files", type=int, default=100000)
    ap.add_argument("--total-mb", type=int, default=1000)
    ap.add_argument("--capstan", default=os.path.join(ROOT, "build/rel/capstan"))
    ap.add_argument("--dvc", default=os.path.join(ROOT, ".venv-dvc/bin/dvc"))
    ap.add_argument("--workdir", default=None)
    a = ap.parse_args()
    work = a.workdir or tempfile.mkdtemp(prefix="bench-data-")
    repo = os.path.join(work, "repo")
    os.makedirs(repo)
    subprocess.run([a.dvc, "init", "--no-scm", "-q"], cwd=repo, check=True)
    # DVC's defaults, except the analytics ping (no network here).
    subprocess.run([a.dvc, "config", "core.analytics", "false"], cwd=repo, check=True)
    t0 = time.time()
    write_big(os.path.join(repo, "big.bin"), a.big_gb)
    write_small(os.path.join(repo, "small"), a.files, a.total_mb)
    warm(repo)
    # Capstan syncs its objects before it records a version (syncfs: the whole filesystem),
    # DVC syncs nothing; the trees just written must not be counted against either.
    os.sync()
    print(f"# trees written in {time.time() - t0:.0f} s under {work}", flush=True)

    cap = lambda data, *args: timed([a.capstan, "data", "add", *args, "--data", data])
    dvc = lambda target: timed([a.dvc, "add", "-q", target], cwd=repo)
    rows = []

    def case(name, c, d):
        rows.append((name, c, d))
        print(f"{name:<44} capstan {c[0]:8.2f} s {c[1]:7.1f} MiB   dvc {d[0]:8.2f} s "
              f"{d[1]:7.1f} MiB   {d[0] / max(c[0], 1e-3):7.1f}x", flush=True)

    big = os.path.join(repo, "big.bin")
    small = os.path.join(repo, "small")
    case(f"(a) one file, {a.big_gb} GB", cap(os.path.join(work, "c1"), big, "--name", "big"),
         dvc("big.bin"))
    cdata = os.path.join(work, "c2")
    case(f"(b) {a.files} files, {a.total_mb} MB", cap(cdata, small, "--name", "small"),
         dvc("small"))
    case("(c) re-add of (b), nothing changed", cap(cdata, small, "--name", "small"),
         dvc("small"))
    victim = os.path.join(small, "d07", "f000007.bin")
    with open(victim, "r+b") as f:
        f.write(b"changed!")
    case("(d) re-add of (b), one file changed", cap(cdata, small, "--name", "small"),
         dvc("small"))
    cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"],
                         capture_output=True, text=True).stdout.strip()
    print(f"# CPU: {cpu}, {os.cpu_count()} CPUs; capstan peak RSS (a) {rows[0][1][1]:.1f} MiB "
          f"vs (b) {rows[1][1][1]:.1f} MiB")
    ra, rb = rows[0][2][0] / rows[0][1][0], rows[1][2][0] / rows[1][1][0]
    print(f"headline: (a) {ra:.1f}x, (b) {rb:.1f}x faster than dvc add; (c) "
          f"{rows[2][1][0]:.2f} s, (d) {rows[3][1][0]:.2f} s")
    if not a.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
