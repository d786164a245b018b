"""The HTTP front over raw sockets: every request a client finishes gets a
complete answer within seconds, an /api/ or /v2/ error is JSON in its
protocol's shape and valid UTF-8, a client's mistake is never a 5xx, and the
server still answers /health afterwards.

The cases are data: sizes swept across each limit of the request's head
(server/server.c: MAX_TARGET_BYTES, MAX_HEADER_FIELDS, MAX_HEAD_BYTES, the
connection's pool), each Transfer-Encoding and Content-Length form, NUL and
bad percent-encodings, pipelining, half-open connections. Cases that
libmicrohttpd 0.9.75 answers itself, before Capstan sees the request, are
marked: those it answers wrongly are xfail with the reason."""
import json
import signal
import socket
import time

import pytest

# server/server.c's limits
MAX_TARGET = 16 * 1024
MAX_FIELDS = 100
MAX_HEAD_BYTES = 16 * 1024 + 512
POOL = 24 * 1024
# The Host every raw request sends: an address the server's Host check
# (server/guard.h) answers. Sizes below count it.
HOST = "127.0.0.1"

ANSWER_WITHIN_S = 5

RUN_GET = "/api/2.0/mlflow/runs/get"
EXP_CREATE = "/api/2.0/mlflow/experiments/create"


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body


def read_response(f):
    """One response from a socket file, or None at a clean end of stream."""
    line = f.readline()
    if not line:
        return None
    parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    assert parts[0].startswith("HTTP/1."), line
    status = int(parts[1])
    headers = {}
    while True:
        h = f.readline()
        assert h, "the connection ended inside the response's header"
        h = h.decode("latin-1").rstrip("\r\n")
        if not h:
            break
        k, _, v = h.partition(":")
        k = k.strip().lower()
        assert k not in headers or k == "set-cookie", f"header {k} twice (header block twice?)"
        headers[k] = v.strip()
    if "content-length" in headers:
        n = int(headers["content-length"])
        body = f.read(n)
        assert len(body) == n, f"body cut short: {len(body)} of {n} bytes"
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int(f.readline().split(b";")[0], 16)
            chunk = f.read(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    else:
        body = f.read()
    return Response(status, headers, body)


def exchange(server, raw, count=1, shut_wr=False):
    """Sends raw bytes on a new connection; returns the first `count`
    responses (each must come whole within ANSWER_WITHIN_S)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=ANSWER_WITHIN_S) as s:
        s.sendall(raw)
        if shut_wr:
            s.shutdown(socket.SHUT_WR)
        f = s.makefile("rb")
        out = []
        for _ in range(count):
            r = read_response(f)
            assert r is not None, "the server closed the connection without an answer"
            out.append(r)
        return out


def request(method, target, headers=(), body=b"", version="HTTP/1.1"):
    head = f"{method} {target} {version}\r\nHost: {HOST}\r\n"
    for k, v in headers:
        head += f"{k}: {v}\r\n"
    if body and not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in headers):
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode("latin-1") + b"\r\n" + body


def check_answer(r, path, statuses):
    assert r.status in statuses, (r.status, r.body[:300])
    if r.status >= 400 and (path.startswith("/api/") or path.startswith("/v2/")):
        assert r.headers.get("content-type", "").startswith("application/json"), r.headers
        doc = json.loads(r.body.decode("utf-8"))  # strict: invalid UTF-8 raises
        if path.startswith("/v2/"):
            assert isinstance(doc.get("error"), str), doc
        else:
            assert isinstance(doc.get("error_code"), str), doc
            assert isinstance(doc.get("message"), str), doc


def check_alive(server):
    (r,) = exchange(server, request("GET", "/health"))
    assert r.status == 200


def run_case(server, raw, path, statuses, count=1, shut_wr=False):
    rs = exchange(server, raw, count=count, shut_wr=shut_wr)
    for r in rs:
        check_answer(r, path, statuses)
    check_alive(server)
    return rs


def target_of(path, nparams, param):
    q = "&".join(param(i) for i in range(nparams))
    return f"{path}?run_id=x&{q}" if q else f"{path}?run_id=x"


# --- the request target: parameter counts and sizes ----------------------

PARAM_COUNTS = [0, 1, 100, 204, 205, 206, 207, 208, 240, 241, 242, 500, 1000, 1300, 1500]
PARAM_FORMS = {"run_ids": lambda i: f"run_ids=id_{i}", "a=b": lambda i: "a=b"}


@pytest.mark.parametrize("form", PARAM_FORMS)
@pytest.mark.parametrize("nparams", PARAM_COUNTS)
def test_query_parameter_count(server, form, nparams):
    target = target_of(RUN_GET, nparams, PARAM_FORMS[form])
    status = 414 if len(target) > MAX_TARGET else 404
    run_case(server, request("GET", target), RUN_GET, {status})


TARGET_SIZES = [1000, 8000, MAX_TARGET - 1, MAX_TARGET, MAX_TARGET + 1, 16100, 16200, 16300,
                20000, POOL - 2000]


def padded_target(kind, size):
    if kind == "path":
        base = "/api/2.0/mlflow/runs/"
        return base + "p" * (size - len(base))
    base = RUN_GET + "?run_id=x&pad="
    return base + "q" * (size - len(base))


@pytest.mark.parametrize("kind", ["path", "query"])
@pytest.mark.parametrize("size", TARGET_SIZES)
def test_target_size(server, kind, size):
    target = padded_target(kind, size)
    assert len(target) == size
    ok = 404
    run_case(server, request("GET", target), RUN_GET, {414 if size > MAX_TARGET else ok})


# Heads that fill MHD's pool: MHD answers them itself (414/431, HTML), before
# Capstan sees them. A head that fills it but for the few hundred bytes of
# the reply's header gets no answer: MHD 0.9.75 grows its read buffer into the
# pool's last byte (try_grow_read_buffer) and, when build_header_response
# then finds no room, START_REPLY closes the connection.
MHD_NO_ROOM_FOR_REPLY = pytest.mark.xfail(
    strict=True, reason="libmicrohttpd 0.9.75 reserves no pool room for the reply: a head "
    "within a few hundred bytes of the pool's size is closed without an answer")


# (POOL - 100 - len(HOST) + 1: the head as long as it was when Host was "x")
@pytest.mark.parametrize("size", [POOL - 400, pytest.param(POOL - 99 - len(HOST),
                                                           marks=MHD_NO_ROOM_FOR_REPLY),
                                  POOL, POOL + 1000, 64 * 1024])
def test_target_beyond_the_pool(server, size):
    target = padded_target("query", size)
    rs = exchange(server, request("GET", target))
    assert rs[0].status in (414, 431), rs[0].status
    check_alive(server)


# --- header fields: counts and sizes --------------------------------------

HEADER_COUNTS = [10, MAX_FIELDS - 2, MAX_FIELDS - 1, MAX_FIELDS, MAX_FIELDS + 1, 150, 200, 217,
                 218, 250]


@pytest.mark.parametrize("nheaders", HEADER_COUNTS)
def test_header_count(server, nheaders):
    # Host is one field of the count
    headers = [(f"X-H{i}", "v") for i in range(nheaders - 1)]
    status = 431 if nheaders > MAX_FIELDS else 404
    run_case(server, request("GET", RUN_GET + "?run_id=x", headers), RUN_GET, {status})


HEADER_VALUE_SIZES = [100, 8000, 12 * 1024, 16100, 16200, 16300, MAX_HEAD_BYTES - 60,
                      MAX_HEAD_BYTES - 40, MAX_HEAD_BYTES, 20000, POOL - 2000]


def head_bytes(target, headers):
    """What server.c counts against MAX_HEAD_BYTES: the target, and each
    field with ": " and CRLF (Host included)."""
    return len(target) + sum(len(k) + len(v) + 4 for k, v in [("Host", HOST), *headers])


@pytest.mark.parametrize("size", HEADER_VALUE_SIZES)
def test_header_value_size(server, size):
    target = RUN_GET + "?run_id=x"
    headers = [("X-Big", "v" * size)]
    status = 431 if head_bytes(target, headers) > MAX_HEAD_BYTES else 404
    run_case(server, request("GET", target, headers), RUN_GET, {status})


@pytest.mark.parametrize("target_size", [8000, 15000])
@pytest.mark.parametrize("nfields", [10, MAX_FIELDS])
def test_head_at_every_limit(server, target_size, nfields):
    """The largest heads under every limit at once still get Capstan's
    answer (the pool holds them and the reply); a byte more gets its 431."""
    target = padded_target("query", target_size)
    names = [f"X-H{i}" for i in range(nfields - 1)]  # and Host
    room = MAX_HEAD_BYTES - head_bytes(target, [(k, "") for k in names])
    sizes = [room // len(names)] * len(names)
    sizes[-1] += room - sum(sizes)
    headers = [(k, "v" * n) for k, n in zip(names, sizes)]
    assert head_bytes(target, headers) == MAX_HEAD_BYTES
    run_case(server, request("GET", target, headers), RUN_GET, {404})
    headers[-1] = (names[-1], "v" * (sizes[-1] + 1))
    run_case(server, request("GET", target, headers), RUN_GET, {431})


# Cookies: MHD 0.9.75 parses the Cookie header into its pool (a record per
# cookie) and, when the pool runs out, queues a 431 in parse_connection_headers
# whose state its caller then overwrites, as for a malformed Content-Length:
# the header block goes out twice.
@pytest.mark.parametrize("ncookies", [
    10, 200,
    pytest.param(600, marks=pytest.mark.xfail(
        strict=True, reason="libmicrohttpd 0.9.75 sends its header block twice when the "
        "cookies exhaust its pool (parse_cookie_header's 431 is overwritten)")),
])
def test_cookies(server, ncookies):
    cookie = "; ".join(f"c{i}=v" for i in range(ncookies))
    run_case(server, request("GET", RUN_GET + "?run_id=x", [("Cookie", cookie)]), RUN_GET,
             {404, 431})


# --- the body's framing ------------------------------------------------------

BODY = b'{"name": "front-te-%d"}'


@pytest.mark.parametrize("te, status", [
    ("chunked", 200), ("Chunked", 200), ("CHUNKED", 200),
    ("gzip", 501), ("gzip, chunked", 501), ("chunked, gzip", 501), ("identity", 501),
    ("deflate", 501), ("x", 501),
])
def test_transfer_encoding(server, te, status):
    body = BODY % abs(hash(te))
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    raw = request("POST", EXP_CREATE,
                  [("Transfer-Encoding", te), ("Content-Type", "application/json")]) + chunked
    run_case(server, raw, EXP_CREATE, {status})


def test_two_transfer_encodings(server):
    raw = request("POST", EXP_CREATE, [("Transfer-Encoding", "gzip"),
                                       ("Transfer-Encoding", "chunked")]) + b"0\r\n\r\n"
    run_case(server, raw, EXP_CREATE, {501})


def test_chunked_body_in_pieces(server):
    raw = request("POST", EXP_CREATE, [("Transfer-Encoding", "chunked"),
                                       ("Content-Type", "application/json")])
    a, b = b'{"nam', b'e": "front-piece"}'
    raw += b"%x\r\n%s\r\n%x;ext=1\r\n%s\r\n0\r\n\r\n" % (len(a), a, len(b), b)
    run_case(server, raw, EXP_CREATE, {200})


# libmicrohttpd 0.9.75 answers a Content-Length it cannot parse itself, then
# sends its header block twice: parse_connection_headers queues its 400/413
# and builds the header, and MHD_connection_handle_idle overwrites the state
# with HEADERS_PROCESSED, so START_REPLY builds it again. Capstan's handler is
# never called for such a request (call_connection_handler returns at once
# when a response is queued), so no callback can steer around it.
MHD_BAD_CONTENT_LENGTH = pytest.mark.xfail(
    strict=True, reason="libmicrohttpd 0.9.75 sends its header block twice for a malformed "
    "Content-Length (parse_connection_headers' error is overwritten by HEADERS_PROCESSED)")


@pytest.mark.parametrize("cl", [
    pytest.param("-1", marks=MHD_BAD_CONTENT_LENGTH),
    pytest.param("abc", marks=MHD_BAD_CONTENT_LENGTH),
    pytest.param("0x10", marks=MHD_BAD_CONTENT_LENGTH),
    pytest.param("99999999999999999999999", marks=MHD_BAD_CONTENT_LENGTH),
    pytest.param("1e3", marks=MHD_BAD_CONTENT_LENGTH),
    pytest.param("", marks=MHD_BAD_CONTENT_LENGTH),
])
def test_malformed_content_length(server, cl):
    raw = request("POST", EXP_CREATE, [("Content-Length", cl)]) + b"{}"
    run_case(server, raw, EXP_CREATE, {400, 413})


@pytest.mark.parametrize("cl, status", [
    ("2", 400),                       # "{}" lacks the name
    ("18446744073709551615", 413),    # the largest 64-bit value: over the limit
    ("100000000000", 413),
])
def test_content_length(server, cl, status):
    raw = request("POST", EXP_CREATE, [("Content-Length", cl)]) + b"{}"
    run_case(server, raw, EXP_CREATE, {status})


# A chunk-size line longer than the read buffer can grow: MHD 0.9.75 answers
# 500 itself (MHD_connection_update_event_loop_info, CONTINUE_SENT: the
# read buffer cannot grow), before Capstan sees any of the body.
@pytest.mark.xfail(strict=True, reason="libmicrohttpd 0.9.75 answers an over-long chunk-size "
                   "line with its own 500 (CONTINUE_SENT when the read buffer cannot grow)")
def test_long_chunk_size_line(server):
    raw = request("POST", EXP_CREATE, [("Transfer-Encoding", "chunked")])
    raw += b"0" * (POOL + 1000) + b"1\r\n{\r\n0\r\n\r\n"
    run_case(server, raw, EXP_CREATE, {400, 413, 431})


# --- NULs, percent-encodings, UTF-8 ------------------------------------------

@pytest.mark.parametrize("target, status", [
    ("/api/2.0/mlflow/runs/search%00x", 400),
    ("/api/2.0/mlflow/runs/get%00?run_id=x", 400),
    ("/api/2.0/mlflow/runs/get?run_id=x%00y", 400),
    ("/api/2.0/mlflow/runs/get?run_id=%zz", 400),
    ("/api/2.0/mlflow/runs/get?run_id=%4", 400),
    ("/api/2.0/mlflow/runs/get?run_id=%", 400),
    ("/api/2.0/mlflow/runs/get?run_id=%C0%AF", (400, 404)),
    ("/api/2.0/mlflow/runs/get?run_id=%FF%FE", (400, 404)),
    ("/api/2.0/mlflow/runs/get?run_id=%ED%A0%80", (400, 404)),
    ("/api/2.0/mlflow/runs/get?run_id=%F4%90%80%80", (400, 404)),
    ("/api/2.0/mlflow/experiments/get-by-name?experiment_name=%E2%82", 404),
    ("/api/2.0/mlflow/no%zzsuch", 404),
    ("/v2/models/m%00/infer", 400),
    ("/v2/models/m%C0/ready", 404),
    ("/v2/models/m%zz/ready", 404),
])
def test_encodings(server, target, status):
    statuses = set(status) if isinstance(status, tuple) else {status}
    run_case(server, request("GET", target), target, statuses)


@pytest.mark.parametrize("target", [
    b"/api/2.0/mlflow/runs/search\x00x",
    b"/api/2.0/mlflow/runs/get?run_id=x\x00y",
    b"/v2/models/m\x00x/ready",
])
def test_raw_nul_in_target(server, target):
    raw = b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    run_case(server, raw, target.decode("latin-1"), {400})


@pytest.mark.parametrize("body", [
    b'{"name": "caf\xc3"}',
    b'{"name": "\xc0\xaf\xff"}',
    b'{"name": "a\xed\xa0\x80b"}',
])
def test_invalid_utf8_in_a_body(server, body):
    """Whatever the handler says about bytes that are not UTF-8, its JSON is."""
    for path in ("/api/2.0/mlflow/experiments/create", "/api/2.0/mlflow/runs/delete"):
        raw = request("POST", path, [("Content-Type", "application/json")],
                      body.replace(b'"name"', b'"run_id"') if path.endswith("delete") else body)
        run_case(server, raw, path, {200, 400, 404})


# --- several requests on a connection -----------------------------------------

def test_pipelining(server):
    raw = (request("GET", "/health") + request("GET", RUN_GET + "?run_id=x")
           + request("POST", EXP_CREATE, [("Content-Type", "application/json")], b"{}")
           + request("GET", "/v2/models/nope/ready") + request("GET", "/health"))
    rs = exchange(server, raw, count=5)
    assert [r.status for r in rs] == [200, 404, 400, 404, 200]
    check_answer(rs[1], RUN_GET, {404})
    check_answer(rs[2], EXP_CREATE, {400})
    check_answer(rs[3], "/v2/models/nope/ready", {404})
    check_alive(server)


def test_pipelined_after_an_early_refusal(server):
    """A refused head closes the connection after its answer."""
    raw = (request("POST", EXP_CREATE, [("Transfer-Encoding", "gzip")]) + b"xx"
           + request("GET", "/health"))
    (r,) = run_case(server, raw, EXP_CREATE, {501})
    assert r.headers.get("connection", "").lower() == "close"


# --- half-open connections ------------------------------------------------------

# A request that the server hands to a worker suspends its connection; on
# resuming it, MHD 0.9.75 marks the socket readable and reads before it
# sends (resume_suspended_connections sets READ_READY, and the event-loop
# state from before the suspension still says READ): a client that
# half-closed after its request then reads as gone, and MHD closes the
# connection with the answer unsent (MHD_connection_handle_read, recv 0 in
# FULL_REQ_RECEIVED). Whether the FIN is there by then depends on timing:
# under load it nearly always is. Answers from the HTTP thread are not hit.
MHD_HALF_CLOSE_RESUMED = pytest.mark.xfail(
    strict=False, reason="libmicrohttpd 0.9.75 drops the answer of a resumed (worker) "
    "request whose client half-closed, when it reads the FIN before sending")


@pytest.mark.parametrize("raw, status", [
    (request("GET", "/health"), 200),
    (request("GET", "/v2/models/nope/ready"), 404),
    pytest.param(request("GET", RUN_GET + "?run_id=x"), 404, marks=MHD_HALF_CLOSE_RESUMED),
    pytest.param(request("POST", EXP_CREATE, [("Content-Type", "application/json")], b"{}"), 400,
                 marks=MHD_HALF_CLOSE_RESUMED),
    (request("GET", padded_target("query", MAX_TARGET + 10)), 414),
    (request("POST", EXP_CREATE, [("Transfer-Encoding", "gzip")]), 501),
])
def test_half_closed_after_a_whole_request(server, raw, status):
    rs = exchange(server, raw, shut_wr=True)
    assert rs[0].status == status
    check_alive(server)


# A request the client never finished needs no answer. MHD closes its side
# when it reads the FIN, but not always: with MHD_USE_EPOLL (edge-triggered)
# 0.9.75 takes a short read for a drained socket (recv_param_adapter clears
# READ_READY when recv returns less than it asked for), so a FIN that came
# with the last bytes raises no new event and the connection waits for its
# timeout. Which one happens depends on timing, so this asserts only what is
# certain: the server goes on answering, and (test_stop_...) such a
# connection does not hold up a stop.
@pytest.mark.parametrize("raw", [
    b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n",                    # no end of head
    b"GET /api/2.0/mlflow/runs/get?run_id=x HTTP/1.1\r\nHo",
    b"POST " + EXP_CREATE.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n{}",
    b"GET /heal",
])
def test_half_closed_inside_a_request(server, raw):
    with socket.create_connection(("127.0.0.1", server.port), timeout=ANSWER_WITHIN_S) as s:
        s.sendall(raw)
        s.shutdown(socket.SHUT_WR)
        check_alive(server)


# --- stopping ---------------------------------------------------------------------

def test_stop_does_not_wait_for_unfinished_heads(make_server):
    """A connection that sent half a head is not a request in flight: SIGTERM
    must not wait for it (the drain limit is 10 s)."""
    srv = make_server().start()
    socks = []
    try:
        for raw in (b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                    b"GET " + padded_target("query", 3000).encode()):
            s = socket.create_connection(("127.0.0.1", srv.port))
            s.sendall(raw)
            socks.append(s)
        check_alive(srv)
        t0 = time.monotonic()
        rc = srv.stop(signal.SIGTERM, timeout=30)
        assert time.monotonic() - t0 < 5
        srv.assert_clean_exit(rc)
    finally:
        for s in socks:
            s.close()
