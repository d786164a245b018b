"""tests/s3_server.py's SeaweedFS is a real S3 for the artifact backend's
tests: it checks SigV4 signatures, their credentials and date, and answers
buckets, listings and multipart uploads as AWS does. boto3 is the independent
client; the raw requests (signed by botocore, sent by requests) pin what
weed answers to exactly the headers a C client may send.

Without weed built the tests fail (scripts/bootstrap builds it), never skip."""
import datetime
import hashlib
import os
import secrets
import xml.etree.ElementTree as ET
from unittest import mock

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from s3_server import S3Server, weed_path

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def s3():
    srv = S3Server().start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def bucket(s3):
    return s3.create_bucket("s3-server-test")


def error_of(excinfo):
    e = excinfo.value.response
    return e["ResponseMetadata"]["HTTPStatusCode"], e["Error"]["Code"]


def signed(s3, method, path, body=b"", headers=None, payload_hash=None, secret=None,
           when=None):
    """Sends one request signed with SigV4 as a C client would: the
    x-amz-content-sha256 header is payload_hash (the body's SHA-256 when
    None) and the signing date is `when` (now when None)."""
    h = dict(headers or {})
    h["X-Amz-Content-SHA256"] = payload_hash or hashlib.sha256(body).hexdigest()
    req = AWSRequest(method=method, url=s3.endpoint + path, data=body, headers=h)
    creds = Credentials(s3.access_key, secret or s3.secret_key)
    if when is None:
        SigV4Auth(creds, "s3", s3.region).add_auth(req)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=when):
            SigV4Auth(creds, "s3", s3.region).add_auth(req)
    return requests.request(method, req.url, data=body, headers=dict(req.headers), timeout=60)


def xml_error(resp):
    root = ET.fromstring(resp.content)
    return root.findtext("Code"), root.findtext("Message")


def test_weed_is_where_bootstrap_puts_it():
    assert os.access(weed_path(), os.X_OK), f"no {weed_path()}: run scripts/bootstrap"


def test_put_and_get(s3, bucket):
    c = s3.client()
    body = secrets.token_bytes(100_000)
    c.put_object(Bucket=bucket, Key="dir/a b.bin", Body=body)
    assert c.get_object(Bucket=bucket, Key="dir/a b.bin")["Body"].read() == body
    head = c.head_object(Bucket=bucket, Key="dir/a b.bin")
    assert head["ContentLength"] == len(body)
    assert head["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()


def test_wrong_secret_is_refused(s3, bucket):
    c = s3.client(secret_key=s3.secret_key + "x")
    with pytest.raises(ClientError) as ei:
        c.put_object(Bucket=bucket, Key="nope", Body=b"x")
    assert error_of(ei) == (403, "SignatureDoesNotMatch")
    with pytest.raises(ClientError) as ei:
        c.list_objects_v2(Bucket=bucket)
    assert error_of(ei) == (403, "SignatureDoesNotMatch")


def test_wrong_access_key_is_refused(s3, bucket):
    c = s3.client(access_key="NOSUCHKEY0123456789")
    with pytest.raises(ClientError) as ei:
        c.list_objects_v2(Bucket=bucket)
    assert error_of(ei) == (403, "InvalidAccessKeyId")


def test_missing_bucket(s3):
    c = s3.client()
    with pytest.raises(ClientError) as ei:
        c.get_object(Bucket="capstan-no-such-bucket", Key="k")
    assert error_of(ei) == (404, "NoSuchBucket")
    with pytest.raises(ClientError) as ei:
        c.list_objects_v2(Bucket="capstan-no-such-bucket")
    assert error_of(ei) == (404, "NoSuchBucket")
    with pytest.raises(ClientError) as ei:  # no bucket made on the fly
        c.put_object(Bucket="capstan-no-such-bucket", Key="k", Body=b"x")
    assert error_of(ei) == (404, "NoSuchBucket")


def test_missing_key(s3, bucket):
    with pytest.raises(ClientError) as ei:
        s3.client().get_object(Bucket=bucket, Key="no/such/key")
    assert error_of(ei) == (404, "NoSuchKey")


def test_list_objects_v2_pages_with_continuation_tokens(s3, bucket):
    c = s3.client()
    keys = [f"page/k{i}" for i in range(5)]
    for k in keys:
        c.put_object(Bucket=bucket, Key=k, Body=k.encode())
    seen, token, pages = [], None, 0
    while True:
        kw = {"ContinuationToken": token} if token else {}
        r = c.list_objects_v2(Bucket=bucket, Prefix="page/", MaxKeys=2, **kw)
        pages += 1
        seen += [o["Key"] for o in r["Contents"]]
        assert r["KeyCount"] == len(r["Contents"]) <= 2
        if not r["IsTruncated"]:
            assert "NextContinuationToken" not in r
            break
        token = r["NextContinuationToken"]
    assert (seen, pages) == (keys, 3)
    # Delimiter groups the "directories" under a prefix.
    r = c.list_objects_v2(Bucket=bucket, Prefix="", Delimiter="/")
    assert {p["Prefix"] for p in r["CommonPrefixes"]} >= {"page/"}


def test_multipart_upload_reads_back_byte_for_byte(s3, bucket):
    c = s3.client()
    parts = [secrets.token_bytes(5 * MiB), secrets.token_bytes(5 * MiB)]
    up = c.create_multipart_upload(Bucket=bucket, Key="mp/big.bin")["UploadId"]
    done = []
    for n, data in enumerate(parts, 1):
        r = c.upload_part(Bucket=bucket, Key="mp/big.bin", UploadId=up, PartNumber=n, Body=data)
        assert r["ETag"] == '"%s"' % hashlib.md5(data).hexdigest()
        done.append({"PartNumber": n, "ETag": r["ETag"]})
    listed = c.list_parts(Bucket=bucket, Key="mp/big.bin", UploadId=up)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in listed] == [(1, 5 * MiB), (2, 5 * MiB)]
    r = c.complete_multipart_upload(Bucket=bucket, Key="mp/big.bin", UploadId=up,
                                    MultipartUpload={"Parts": done})
    md5s = b"".join(hashlib.md5(p).digest() for p in parts)
    assert r["ETag"] == '"%s-2"' % hashlib.md5(md5s).hexdigest()
    got = c.get_object(Bucket=bucket, Key="mp/big.bin")["Body"].read()
    assert got == b"".join(parts)


def test_aborted_multipart_leaves_no_object(s3, bucket):
    c = s3.client()
    up = c.create_multipart_upload(Bucket=bucket, Key="mp/aborted.bin")["UploadId"]
    c.upload_part(Bucket=bucket, Key="mp/aborted.bin", UploadId=up, PartNumber=1,
                  Body=secrets.token_bytes(5 * MiB))
    c.abort_multipart_upload(Bucket=bucket, Key="mp/aborted.bin", UploadId=up)
    with pytest.raises(ClientError) as ei:
        c.head_object(Bucket=bucket, Key="mp/aborted.bin")
    assert error_of(ei)[0] == 404
    uploads = c.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert up not in [u["UploadId"] for u in uploads]
    with pytest.raises(ClientError) as ei:
        c.list_parts(Bucket=bucket, Key="mp/aborted.bin", UploadId=up)
    assert error_of(ei) == (404, "NoSuchUpload")


def test_delete_objects(s3, bucket):
    c = s3.client()
    for k in ("del/a", "del/b"):
        c.put_object(Bucket=bucket, Key=k, Body=b"x")
    r = c.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "del/a"}, {"Key": "del/b"},
                                                            {"Key": "del/never"}]})
    assert sorted(d["Key"] for d in r["Deleted"]) == ["del/a", "del/b", "del/never"]
    assert "Contents" not in c.list_objects_v2(Bucket=bucket, Prefix="del/")


# -- what a C client signing by hand meets --

def test_raw_signed_put_and_get(s3, bucket):
    r = signed(s3, "PUT", f"/{bucket}/raw/signed", b"hello")
    assert r.status_code == 200, r.text
    r = signed(s3, "GET", f"/{bucket}/raw/signed")
    assert (r.status_code, r.content) == (200, b"hello")


def test_request_signed_20_minutes_ago_is_refused(s3, bucket):
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
    r = signed(s3, "GET", f"/{bucket}?list-type=2", when=past)
    assert r.status_code == 403
    assert xml_error(r) == ("RequestTimeTooSkewed",
                            "The difference between the request time and the server's time is "
                            "too large.")
    # Within the 15 minutes S3 allows it is answered.
    near = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10)
    assert signed(s3, "GET", f"/{bucket}?list-type=2", when=near).status_code == 200


def test_unsigned_payload_put_object_and_upload_part(s3, bucket):
    body = secrets.token_bytes(1000)
    r = signed(s3, "PUT", f"/{bucket}/raw/unsigned", body, payload_hash="UNSIGNED-PAYLOAD")
    assert r.status_code == 200, r.text
    assert signed(s3, "GET", f"/{bucket}/raw/unsigned").content == body

    c = s3.client()
    up = c.create_multipart_upload(Bucket=bucket, Key="raw/unsigned-mp")["UploadId"]
    part = secrets.token_bytes(5 * MiB)
    r = signed(s3, "PUT", f"/{bucket}/raw/unsigned-mp?partNumber=1&uploadId={up}", part,
               payload_hash="UNSIGNED-PAYLOAD")
    assert r.status_code == 200, r.text
    etag = r.headers["ETag"]
    assert etag == '"%s"' % hashlib.md5(part).hexdigest()
    c.complete_multipart_upload(Bucket=bucket, Key="raw/unsigned-mp", UploadId=up,
                                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert c.get_object(Bucket=bucket, Key="raw/unsigned-mp")["Body"].read() == part


def test_unsigned_payload_through_boto3(s3, bucket):
    sent = []
    c = s3.client(s3={"payload_signing_enabled": False},
                  request_checksum_calculation="when_required")
    c.meta.events.register("before-send.s3.PutObject",
                           lambda request, **kw: sent.append(
                               request.headers["X-Amz-Content-SHA256"]))
    c.put_object(Bucket=bucket, Key="raw/boto-unsigned", Body=b"unsigned body")
    assert [v.decode() if isinstance(v, bytes) else v for v in sent] == ["UNSIGNED-PAYLOAD"]
    assert c.get_object(Bucket=bucket, Key="raw/boto-unsigned")["Body"].read() == b"unsigned body"


def test_payload_hash_that_does_not_match_the_body_is_refused(s3, bucket):
    r = signed(s3, "PUT", f"/{bucket}/raw/liar", b"the body",
               payload_hash=hashlib.sha256(b"another body").hexdigest())
    assert r.status_code == 400, r.text
    assert xml_error(r)[0] == "XAmzContentSHA256Mismatch"
    assert signed(s3, "GET", f"/{bucket}/raw/liar").status_code == 404


def test_wrong_secret_raw(s3, bucket):
    r = signed(s3, "GET", f"/{bucket}?list-type=2", secret="not-the-secret")
    assert r.status_code == 403
    assert xml_error(r)[0] == "SignatureDoesNotMatch"
