"""Pipeline schedules (pipeline/cron.c, tz.c, schedule.c) on the real binary.

Next fire times: `capstan pipeline schedule next` against a reference
computed here with zoneinfo (Vixie's day rule; a skipped local time read
with fold=0, i.e. shifted by the gap; a repeated one at its first
occurrence), over month ends, leap days and both DST changes in
Europe/Berlin and America/New_York; and against croniter where it is
installed and the zone has no DST (croniter ORs a '*/N' day field, Vixie
does not: that case is checked against Vixie's rule only).

The server runs a stand-in program (--pipeline-runner, the program a
schedule runs): it records its argv, working directory and environment in
a folder per run, and, while the test holds a HOLD file, waits for RELEASE.
Time is never mocked: a restart's catch-up is made by moving a schedule's
last_tick five days back in the store before the server starts; overlap is
driven by holding the first run. Waits poll for a state with a deadline."""
import datetime as dt
import json
import os
import sqlite3
import subprocess
from zoneinfo import ZoneInfo

import pytest

from conftest import BIN, Server
import serving_helpers as sh

API = "/api/2.0/capstan/pipelines/schedules"
UTC = dt.timezone.utc


# ---- the reference ----
def field(text, lo, hi, names=()):
    out = set()
    for item in text.split(","):
        rng, _, step = item.partition("/")
        if rng == "*":
            a, b = lo, (6 if hi == 7 else hi)
        else:
            def val(s):
                return names.index(s.upper()) + lo if s.upper() in names else int(s)
            a, _, b = rng.partition("-")
            a = val(a)
            b = val(b) if b else (hi if step else a)
        out |= set(range(a, b + 1, int(step) if step else 1))
    return {0 if (hi == 7 and v == 7) else v for v in out}


MONTHS = ("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC").split()
DAYS = ("SUN MON TUE WED THU FRI SAT").split()


def reference(expr, tz, after, count):
    mi, h, dom, mon, dow = expr.split()
    mi, h = field(mi, 0, 59), field(h, 0, 23)
    doms, mons, dows = field(dom, 1, 31), field(mon, 1, 12, MONTHS), field(dow, 0, 7, DAYS)
    star = dom.startswith("*") or dow.startswith("*")
    z = ZoneInfo(tz)
    day = after.astimezone(z).date() - dt.timedelta(days=1)
    found = []
    last_day = None
    while last_day is None or day <= last_day:
        wd = (day.weekday() + 1) % 7
        ok_dom, ok_dow = day.day in doms, wd in dows
        if day.month in mons and ((ok_dom and ok_dow) if star else (ok_dom or ok_dow)):
            for hh in sorted(h):
                for mm in sorted(mi):
                    t = dt.datetime(day.year, day.month, day.day, hh, mm, tzinfo=z, fold=0)
                    u = t.astimezone(UTC)
                    if u > after:
                        found.append(u)
        if len(set(found)) >= count and last_day is None:
            last_day = day + dt.timedelta(days=1)
        day += dt.timedelta(days=1)
    return [f"{u:%Y-%m-%dT%H:%M:%S}.000Z" for u in sorted(set(found))[:count]]


def next_times(expr, tz, after, count):
    p = subprocess.run([BIN, "pipeline", "schedule", "next", "--cron", expr, "--timezone", tz,
                        "--after", after.strftime("%Y-%m-%dT%H:%M:%SZ"), "--count", str(count)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)["next"]


def at(s):
    return dt.datetime.fromisoformat(s).replace(tzinfo=UTC)


TABLE = [
    ("0 3 * * *", "UTC", "2026-01-30T12:00:00"),
    ("0 0 31 * *", "UTC", "2026-01-15T00:00:00"),
    ("59 23 L * *".replace("L", "28-31"), "UTC", "2026-02-20T00:00:00"),
    ("0 12 29 2 *", "UTC", "2027-01-01T00:00:00"),       # leap day: 2028
    ("0 12 29 2 *", "UTC", "2099-01-01T00:00:00"),       # 2100 is not a leap year: 2104
    ("*/20 */6 * JAN,jul MON-FRI", "UTC", "2026-01-30T20:00:00"),
    ("0 0 13 * FRI", "UTC", "2026-02-01T00:00:00"),      # the 13th or a Friday
    ("0 0 */2 * 1", "UTC", "2026-01-01T00:00:00"),       # Vixie: odd days that are Mondays
    ("15 10 1 * *", "UTC", "2026-12-31T23:59:00"),        # year end
    ("0 0 * * 7", "UTC", "2026-03-01T00:00:00"),          # 7 is Sunday
    # spring forward: Berlin 2026-03-29 02:00 -> 03:00, New York 2026-03-08 02:00 -> 03:00
    ("30 2 * * *", "Europe/Berlin", "2026-03-27T00:00:00"),
    ("*/15 1-3 * * *", "Europe/Berlin", "2026-03-29T00:30:00"),
    ("0 * * * *", "Europe/Berlin", "2026-03-28T23:30:00"),
    ("30 2 * * *", "America/New_York", "2026-03-07T00:00:00"),
    ("*/30 * * * *", "America/New_York", "2026-03-08T06:10:00"),
    # fall back: Berlin 2026-10-25 03:00 -> 02:00, New York 2026-11-01 02:00 -> 01:00
    ("30 2 * * *", "Europe/Berlin", "2026-10-24T00:00:00"),
    ("*/20 * * * *", "Europe/Berlin", "2026-10-24T23:50:00"),
    ("30 1 * * *", "America/New_York", "2026-10-31T00:00:00"),
    ("0,30 * * * *", "America/New_York", "2026-11-01T04:40:00"),
    ("0 0 29 2 *", "America/New_York", "2027-06-01T00:00:00"),
    ("@monthly".replace("@monthly", "0 0 1 * *"), "Europe/Berlin", "2026-02-27T00:00:00"),
]


@pytest.mark.parametrize("expr,tz,after", TABLE)
def test_next_matches_zoneinfo(expr, tz, after):
    assert next_times(expr, tz, at(after), 6) == reference(expr, tz, at(after), 6)


@pytest.mark.parametrize("expr,tz,after", [t for t in TABLE if t[1] == "UTC" and "*/2 *" not in t[0]])
def test_next_matches_croniter(expr, tz, after):
    croniter = pytest.importorskip("croniter").croniter
    it = croniter(expr, at(after))
    want = [f"{it.get_next(dt.datetime):%Y-%m-%dT%H:%M:%S}.000Z" for _ in range(6)]
    assert next_times(expr, tz, at(after), 6) == want


def test_croniter_day_rule_differs():
    """croniter ORs a day-of-month starting with '*/' with day-of-week; Vixie
    (and Capstan) treat it as unrestricted, so both must hold."""
    croniter = pytest.importorskip("croniter").croniter
    after = at("2026-01-01T00:00:00")
    assert croniter("0 0 */2 * 1", after).get_next(dt.datetime) == at("2026-01-03T00:00:00")
    assert next_times("0 0 */2 * 1", "UTC", after, 1) == ["2026-01-05T00:00:00.000Z"]


def pipeline_run_available():
    p = subprocess.run([BIN, "pipeline", "run", "--repo", "/nonexistent"], capture_output=True,
                       text=True, timeout=60)
    return "unknown sub-command 'run'" not in p.stderr


def test_real_pipeline_runs(tmp_path):
    """The default runner, the capstan binary itself: `pipeline run` on a
    dvc.yaml whose stage writes the schedule's name and tick."""
    if not pipeline_run_available():
        pytest.skip("this capstan has no `pipeline run` yet")
    repo = tmp_path / "repo"
    (repo / ".dvc").mkdir(parents=True)  # what `pipeline run` looks for, as DVC does
    (repo / "dvc.yaml").write_text(
        "stages:\n  hello:\n    cmd: echo \"$CAPSTAN_SCHEDULE $CAPSTAN_TICK\" > out.txt\n"
        "    outs:\n      - out.txt\n")
    srv = Server(tmp_path / "data").start()
    try:
        r = srv.api("POST", API + "/create", json={"name": "real", "repo": str(repo),
                                                   "cron": "@yearly"})
        assert r.status_code == 200, r.text
        run = srv.api("POST", API + "/trigger", json={"name": "real"}).json()["run"]
        done = sh.wait_for(lambda: [x for x in srv.api("GET", API + "/runs", params={
            "name": "real"}).json()["runs"] if x["state"] not in ("queued", "running")],
            timeout=120, what="the run's end")
        assert done[0]["state"] == "succeeded", (done, srv.read_log()[-3000:])
        assert (repo / "out.txt").read_text() == f"real {iso_ms(run['tick'])}\n"
    finally:
        srv.assert_clean_exit(srv.stop())


def test_presets():
    after = at("2026-05-15T10:20:00")
    for preset, expr in [("@hourly", "0 * * * *"), ("@daily", "0 0 * * *"),
                         ("@midnight", "0 0 * * *"), ("@weekly", "0 0 * * 0"),
                         ("@monthly", "0 0 1 * *"), ("@yearly", "0 0 1 1 *"),
                         ("@annually", "0 0 1 1 *")]:
        assert next_times(preset, "Europe/Berlin", after, 3) == \
            reference(expr, "Europe/Berlin", after, 3), preset


@pytest.mark.parametrize("args,message", [
    (["--cron", "0 25 * * *"], "hour field '25': 25 is out of range 0-23"),
    (["--cron", "61 * * * *"], "minute field '61': 61 is out of range 0-59"),
    (["--cron", "0 0 32 * *"], "day-of-month field '32': 32 is out of range 1-31"),
    (["--cron", "0 0 * 0 *"], "month field '0': 0 is out of range 1-12"),
    (["--cron", "0 0 * * SUNDAY"], "day-of-week field 'SUNDAY': 'SUNDAY' is not a number 0-7"),
    (["--cron", "0 0 * *"], "expected 5 fields"),
    (["--cron", "@reboot"], "unknown preset"),
    (["--cron", "0 0 30 2 *"], "never fires"),
    (["--cron", "@daily", "--timezone", "Europe/Atlantis"], "Unknown time zone 'Europe/Atlantis'"),
    (["--cron", "@daily", "--timezone", "../../etc/passwd"], "Invalid time zone"),
    (["--cron", "@daily", "--after", "yesterday"], "Invalid time 'yesterday'"),
    (["--cron", "@daily", "--frobnicate"], "unknown option '--frobnicate'"),
])
def test_next_bad_input(args, message):
    p = subprocess.run([BIN, "pipeline", "schedule", "next", *args], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2 and message in p.stderr, p.stderr


# ---- the scheduler ----
RUNNER = """#!/bin/sh
d="{out}/$CAPSTAN_SCHEDULE.$$"
mkdir -p "$d.tmp"
printf '%s\\n' "$@" > "$d.tmp/argv"
printf '%s' "$CAPSTAN_TICK" > "$d.tmp/tick"
printf '%s' "$CAPSTAN_TRACKING_URI" > "$d.tmp/uri"
printf '%s' "${{CAPSTAN_TRIGGER:-}}" > "$d.tmp/trigger"
printf '%s' "${{CAPSTAN_TRIGGER_JSON:-}}" > "$d.tmp/trigger_json"
pwd > "$d.tmp/cwd"
mv "$d.tmp" "$d"
while [ -e "{out}/HOLD" ] && [ ! -e "{out}/RELEASE" ]; do sleep 0.02; done
exit 0
"""


class Env:
    def __init__(self, tmp_path):
        self.out = tmp_path / "out"
        self.out.mkdir()
        self.repo = tmp_path / "repo"
        self.repo.mkdir()
        self.runner = tmp_path / "runner.sh"
        self.runner.write_text(RUNNER.format(out=self.out))
        self.runner.chmod(0o755)
        self.data = tmp_path / "data"
        self.srv = None

    def start(self):
        self.srv = Server(self.data, ["--pipeline-runner", str(self.runner),
                                      "--pipeline-poll-ms", "50"]).start()
        return self.srv

    def stop(self):
        self.srv.assert_clean_exit(self.srv.stop())

    def create(self, **body):
        body.setdefault("repo", str(self.repo))
        r = self.srv.api("POST", API + "/create", json=body)
        assert r.status_code == 200, r.text
        return r.json()["schedule"]

    def runs(self, name):
        r = self.srv.api("GET", API + "/runs", params={"name": name})
        assert r.status_code == 200, r.text
        return sorted(r.json()["runs"], key=lambda x: x["tick"])

    def wait_states(self, name, states):
        return sh.wait_for(lambda: (lambda rs: rs if [x["state"] for x in rs] == states
                                    else None)(self.runs(name)),
                           timeout=60, what=f"{name}'s runs {states}; have "
                           f"{[x['state'] for x in self.runs(name)]}")

    def calls(self, name):
        out = []
        for d in sorted(self.out.glob(name + ".*")):
            if d.name.endswith(".tmp"):
                continue
            out.append({f: (d / f).read_text() for f in
                        ("argv", "tick", "uri", "trigger", "trigger_json", "cwd")})
        return sorted(out, key=lambda c: c["tick"])

    def trigger(self, name):
        r = self.srv.api("POST", API + "/trigger", json={"name": name})
        assert r.status_code == 200, r.text
        return r.json()["run"]


@pytest.fixture
def env(tmp_path):
    e = Env(tmp_path)
    yield e
    (e.out / "RELEASE").touch()
    if e.srv is not None and e.srv.proc is not None:
        e.stop()


def iso_ms(ms):
    return (dt.datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            + f".{ms % 1000:03d}Z")


@pytest.mark.parametrize("policy", ["skip", "latest", "all"])
def test_restart_catches_up(env, policy):
    """Five daily ticks were missed while the server was down."""
    srv = env.start()
    env.create(name="nightly", cron="0 0 * * *", catch_up=policy, overlap="queue")
    env.stop()
    today = dt.datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    last = today - dt.timedelta(days=5) + dt.timedelta(minutes=1)
    db = sqlite3.connect(env.data / "capstan.db")
    db.execute("UPDATE pipeline_schedules SET last_tick = ? WHERE name = 'nightly'",
               (int(last.timestamp() * 1000),))
    db.commit()
    db.close()
    missed = [int((today - dt.timedelta(days=k)).timestamp() * 1000) for k in range(4, -1, -1)]
    srv = env.start()
    if policy == "skip":
        runs = env.wait_states("nightly", ["skipped"])
        assert runs[0]["tick"] == missed[-1]
        assert runs[0]["reason"] == "catch-up skip: 5 missed ticks not run"
        assert env.calls("nightly") == []
    elif policy == "latest":
        runs = env.wait_states("nightly", ["succeeded"])
        assert runs[0]["tick"] == missed[-1] and runs[0]["cause"] == "catch-up"
        assert runs[0]["reason"] == "catch-up latest: 4 missed ticks not run"
        assert runs[0]["exit_status"] == 0
        [call] = env.calls("nightly")
        assert call["tick"] == iso_ms(missed[-1])
        assert call["argv"].split() == ["pipeline", "run", "--repo", str(env.repo)]
        assert call["uri"] == srv.url and call["cwd"].strip() == str(env.repo)
        assert call["trigger"] == ""
    else:
        runs = env.wait_states("nightly", ["succeeded"] * 5)
        assert [r["tick"] for r in runs] == missed
        # queue: each started after the one before it ended, in tick order
        for a, b in zip(runs, runs[1:]):
            assert b["started_at"] >= a["ended_at"]
        assert [c["tick"] for c in env.calls("nightly")] == [iso_ms(t) for t in missed]
    sched = env.srv.api("GET", API + "/get", params={"name": "nightly"}).json()["schedule"]
    assert sched["last_tick"] == missed[-1]
    # a second restart runs nothing again: each tick has its row
    env.stop()
    env.start()
    assert len(env.runs("nightly")) == (5 if policy == "all" else 1)


@pytest.mark.parametrize("overlap", ["forbid", "allow", "replace", "queue"])
def test_overlap(env, overlap):
    (env.out / "HOLD").touch()
    env.start()
    env.create(name="job", cron="0 0 1 1 *", overlap=overlap)
    env.trigger("job")
    env.wait_states("job", ["running"])
    sh.wait_for(lambda: len(env.calls("job")) == 1, what="the first run's call")
    env.trigger("job")
    if overlap == "forbid":
        runs = env.wait_states("job", ["running", "skipped"])
        assert "overlap forbid" in runs[1]["reason"]
    elif overlap == "allow":
        env.wait_states("job", ["running", "running"])
        sh.wait_for(lambda: len(env.calls("job")) == 2, what="both runs at once")
    elif overlap == "replace":
        runs = env.wait_states("job", ["replaced", "running"])
        assert runs[0]["exit_status"] == 128 + 15  # SIGTERM
    else:
        runs = env.runs("job")
        assert [r["state"] for r in runs] == ["running", "queued"]
    (env.out / "RELEASE").touch()
    final = {"forbid": ["succeeded", "skipped"], "allow": ["succeeded", "succeeded"],
             "replace": ["replaced", "succeeded"], "queue": ["succeeded", "succeeded"]}[overlap]
    runs = env.wait_states("job", final)
    if overlap == "queue":
        assert runs[1]["started_at"] >= runs[0]["ended_at"]
    assert len(env.calls("job")) == (1 if overlap == "forbid" else 2)


def data_add(env, name, content):
    src = env.out.parent / f"src-{content}"
    src.mkdir()
    (src / "f.txt").write_text(content)
    p = subprocess.run([BIN, "data", "add", str(src), "--name", name, "--data", str(env.data)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr


def test_dataset_trigger(env):
    env.start()
    data_add(env, "images", "v1")  # there before the schedule: does not fire
    env.create(name="retrain", on_dataset="images")
    data_add(env, "images", "v2")
    runs = env.wait_states("retrain", ["succeeded"])
    assert runs[0]["cause"] == "dataset" and runs[0]["event"]["version"] == 2
    [call] = env.calls("retrain")
    assert call["trigger"] == "dataset"
    event = json.loads(call["trigger_json"])
    assert event["name"] == "images" and event["version"] == 2
    # paused: a version recorded meanwhile never runs, even after resume
    assert env.srv.api("POST", API + "/pause", json={"name": "retrain"}).json()["schedule"][
        "paused"] is True
    data_add(env, "images", "v3")
    assert env.srv.api("POST", API + "/resume", json={"name": "retrain"}).status_code == 200
    data_add(env, "images", "v4")
    runs = env.wait_states("retrain", ["succeeded", "succeeded"])
    assert [r["event"]["version"] for r in runs] == [2, 4]


def test_schedule_api_and_cli(env):
    srv = env.start()
    cli = [BIN, "pipeline", "schedule", "--server", srv.url]
    p = subprocess.run(cli + ["add", "nightly", "--repo", str(env.repo), "--cron", "0 3 * * *",
                              "--timezone", "Europe/Berlin", "--catch-up", "all",
                              "--overlap", "replace", "--json"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    s = json.loads(p.stdout)["schedule"]
    assert (s["cron"], s["timezone"], s["catch_up"], s["overlap"], s["paused"]) == \
        ("0 3 * * *", "Europe/Berlin", "all", "replace", False)
    assert s["trigger"] == {"kind": "cron"} and "last_tick" not in s
    p = subprocess.run(cli + ["add", "on-drift", "--repo", str(env.repo), "--on-alert", "drift"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    p = subprocess.run(cli + ["ls"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "nightly" in p.stdout and "on alert drift" in p.stdout
    for verb in ("pause", "resume", "trigger"):
        p = subprocess.run(cli + [verb, "nightly"], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
    env.wait_states("nightly", ["succeeded"])
    p = subprocess.run(cli + ["runs", "nightly"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "manual" in p.stdout and "succeeded" in p.stdout
    p = subprocess.run(cli + ["rm", "nightly"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    p = subprocess.run(cli + ["runs", "nightly"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "No pipeline schedule named 'nightly'" in p.stderr
    p = subprocess.run(cli + ["add", "x", "--repo", str(env.repo), "--cron", "* * *"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "expected 5 fields" in p.stderr
    p = subprocess.run(cli + ["add", "x", "--repo", "/no/such/dir", "--cron", "@daily"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "no such directory" in p.stderr
    p = subprocess.run(cli + ["frob", "x"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "unknown schedule command 'frob'" in p.stderr


BAD = [
    ({"cron": "0 0 * * 9"}, "day-of-week field '9': 9 is out of range 0-7"),
    ({"cron": "@daily", "timezone": "Moon/Base"}, "Unknown time zone 'Moon/Base'"),
    ({"cron": "@daily", "catch_up": "some"},
     "Invalid catch_up 'some': expected one of skip, latest, all"),
    ({"cron": "@daily", "overlap": "merge"},
     "Invalid overlap 'merge': expected one of forbid, allow, replace, queue"),
    ({}, "A schedule needs exactly one of 'cron'"),
    ({"cron": "@daily", "on_alert": "drift"}, "A schedule needs exactly one of 'cron'"),
    ({"cron": "@daily", "repo": "relative/dir"}, "Invalid repo 'relative/dir': expected an "
                                                  "absolute path"),
    ({"cron": "@daily", "crontab": "x"}, "Unknown field 'crontab' in a schedule"),
    ({"cron": "@daily", "name": "a b"}, "Invalid schedule name 'a b'"),
    ({"cron": "@daily", "start": "soon"}, "Invalid time 'soon'"),
    ({"on_dataset": "x", "start": "2026-01-01T00:00:00Z"}, "'start' applies to cron"),
]


def test_schedule_api_bad_input(env):
    srv = env.start()
    for extra, message in BAD:
        body = {"name": "bad", "repo": str(env.repo), **extra}
        r = srv.api("POST", API + "/create", json=body)
        assert r.status_code == 400, (extra, r.text)
        assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE", r.text
        assert message in r.json()["message"], (extra, r.text)
    assert srv.api("GET", API + "/list").json()["schedules"] == []
    env.create(name="dup", cron="@daily")
    r = srv.api("POST", API + "/create", json={"name": "dup", "repo": str(env.repo),
                                               "cron": "@daily"})
    assert r.status_code == 400 and r.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    for method, path, params in [("GET", "/get", {"name": "nope"}),
                                 ("POST", "/pause", {"name": "nope"}),
                                 ("DELETE", "/delete", {"name": "nope"}),
                                 ("POST", "/trigger", {"name": "nope"}),
                                 ("GET", "/runs", {"name": "nope"})]:
        kw = {"params": params} if method in ("GET", "DELETE") else {"json": params}
        r = srv.api(method, API + path, **kw)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["message"] == "No pipeline schedule named 'nope'"
    r = srv.api("GET", API + "/get")
    assert r.status_code == 400 and "name" in r.json()["message"]
