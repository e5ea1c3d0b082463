"""X-Hub-Signature: an HMAC of the exact body under the subscription's secret."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from monitor.feeds.signature import signature_valid

SECRET = "s3cret"
BODY = b"<rss><channel><item><title>Naira</title></item></channel></rss>"


def header(method: str, secret: str = SECRET, body: bytes = BODY) -> str:
    return f"{method}={hmac.new(secret.encode(), body, getattr(hashlib, method)).hexdigest()}"


@pytest.mark.parametrize("method", ["sha1", "sha256", "sha384", "sha512"])
def test_it_accepts_each_method_the_recommendation_names(method: str) -> None:
    assert signature_valid(SECRET, BODY, header(method))
    assert signature_valid(SECRET, BODY, header(method).upper().replace("SHA", "sha"))


@pytest.mark.parametrize(
    "given",
    [
        None,
        "",
        header("sha256", secret="other"),
        header("sha256", body=BODY + b" "),
        header("md5"),
        "sha256=",
        "sha256",
        "sha256=zz",
        "sha256=ñandú",
        header("sha1").replace("sha1", "sha256"),
    ],
    ids=[
        "missing",
        "empty",
        "other-secret",
        "other-body",
        "md5",
        "no-digest",
        "no-equals",
        "not-hex",
        "not-ascii",
        "method-swapped",
    ],
)
def test_it_refuses_anything_else(given: str | None) -> None:
    assert not signature_valid(SECRET, BODY, given)
