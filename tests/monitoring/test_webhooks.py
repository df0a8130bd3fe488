"""Alert webhooks: the SSRF guard (allow-list, refused addresses, pinned connection, no
redirects) with httpx's MockTransport and a fake resolver, and deliveries to a real HTTP
server on 127.0.0.1, allowed explicitly."""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from modelward.errors import InvalidInput
from modelward.monitoring.alerts import AlertEvent, parse_rules
from modelward.monitoring.webhooks import WebhookAllow, send_webhook

LOCAL = WebhookAllow.parse(["127.0.0.1"])  # the receivers below run on this machine


# -- webhook ---------------------------------------------------------------------------------


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that records what it is sent."""

    url: str
    bodies: list[Any] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answers to give, in order; then 200
    delay: float = 0.0
    release: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            state.bodies.append(json.loads(self.rfile.read(length)))
            state.headers.append(dict(self.headers))
            if state.delay:
                state.release.wait(state.delay)
            status = state.statuses.pop(0) if state.statuses else 200
            try:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                pass  # the client gave up

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hook")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()


def an_event(zscore: float | None = -4.5) -> AlertEvent:
    return AlertEvent(
        rule="accuracy-drop",
        metric="live_accuracy",
        state="firing",
        value=0.61,
        zscore=zscore,
        condition="z vs 30 points < -3",
        limit=-3.0,
        started_at=1700000000.0,
        fired_at=1700000000.0,
        resolved_at=None,
        message="alert accuracy-drop firing",
    )


def test_webhook_posts_the_event_as_json(receiver: Receiver) -> None:
    result = send_webhook(receiver.url, an_event(), allow=LOCAL)
    assert (result.ok, result.status_code, result.error, result.attempts) == (True, 200, None, 1)
    assert receiver.bodies == [
        {
            "rule": "accuracy-drop",
            "metric": "live_accuracy",
            "state": "firing",
            "value": 0.61,
            "zscore": -4.5,
            "condition": "z vs 30 points < -3",
            "limit": -3.0,
            "started_at": 1700000000.0,
            "fired_at": 1700000000.0,
            "resolved_at": None,
            "message": "alert accuracy-drop firing",
        }
    ]
    assert receiver.headers[0]["Content-Type"] == "application/json"


def test_a_real_local_receiver_not_allowed_gets_nothing(receiver: Receiver) -> None:
    for allow in ([], ["localhost"], ["10.0.0.0/8"]):
        result = send_webhook(receiver.url, an_event(), allow=WebhookAllow.parse(allow))
        assert not result.ok and result.attempts == 0
    named = receiver.url.replace("127.0.0.1", "localhost")  # a name for a loopback address
    result = send_webhook(named, an_event(), allow=WebhookAllow.parse(["localhost"]))
    assert result.error is not None and "a loopback address" in result.error
    assert receiver.bodies == []


def test_webhook_with_a_given_client_and_an_infinite_zscore(receiver: Receiver) -> None:
    with httpx.Client() as client:
        assert send_webhook(receiver.url, an_event(math.inf), allow=LOCAL, client=client).ok
        assert send_webhook(receiver.url, an_event(None), allow=LOCAL, client=client).ok
        assert not client.is_closed  # the caller's client is the caller's to close
    assert [body["zscore"] for body in receiver.bodies] == [None, None]


def test_an_unreachable_webhook_is_a_verdict_not_a_crash() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    result = send_webhook(f"http://127.0.0.1:{port}/hook", an_event(), allow=LOCAL, timeout=3.0)
    assert (result.ok, result.status_code, result.attempts) == (False, None, 3)
    assert result.error is not None and "ConnectError" in result.error
    assert "after 3 attempt(s)" in result.error
    assert time.monotonic() - started < 3.0


def test_a_failing_receiver_is_retried_twice_then_given_up(receiver: Receiver) -> None:
    receiver.statuses = [500, 500, 500, 500]
    started = time.monotonic()
    result = send_webhook(receiver.url, an_event(), allow=LOCAL, timeout=3.0)
    assert (result.ok, result.status_code, result.attempts) == (False, 500, 3)
    assert result.error is not None and "HTTP 500" in result.error
    assert len(receiver.bodies) == 3
    assert time.monotonic() - started < 3.0


def test_a_flaky_receiver_succeeds_on_retry_and_4xx_is_final(receiver: Receiver) -> None:
    receiver.statuses = [503]
    result = send_webhook(receiver.url, an_event(), allow=LOCAL)
    assert (result.ok, result.status_code, result.attempts) == (True, 200, 2)
    receiver.statuses = [404]
    result = send_webhook(receiver.url, an_event(), allow=LOCAL)
    assert (result.ok, result.status_code, result.attempts) == (False, 404, 1)


def test_the_timeout_bounds_the_whole_call(receiver: Receiver) -> None:
    receiver.delay = 5.0
    started = time.monotonic()
    result = send_webhook(receiver.url, an_event(), allow=LOCAL, timeout=0.5)
    assert not result.ok
    assert result.error is not None and "Timeout" in result.error
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize("url", ["ftp://host/hook", "not a url", ""])
def test_a_bad_webhook_url_is_bad_input(url: str) -> None:
    with pytest.raises(InvalidInput, match="webhook"):
        send_webhook(url, an_event(), allow=LOCAL)


# -- the SSRF guard, without leaving the machine -------------------------------------------------


class Recorder:
    """An httpx MockTransport that records every request and answers `status`."""

    def __init__(self, status: int = 204, headers: dict[str, str] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.status, self.headers = status, headers or {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, headers=self.headers)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))


def dns(table: dict[str, Sequence[str]]) -> Any:
    """A resolver answering from `table` (no network); any other name fails as DNS would."""

    def resolve(host: str, port: int) -> Sequence[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolve


def deliver(
    url: str, allow: Sequence[str], table: dict[str, Sequence[str]] | None = None
) -> tuple[Any, Recorder]:
    recorder = Recorder()
    with recorder.client() as client:
        result = send_webhook(
            url, an_event(), allow=WebhookAllow.parse(list(allow)), client=client,
            resolve=dns(table or {}),
        )  # fmt: skip
    return result, recorder


@pytest.mark.parametrize(
    ("url", "allow", "table", "why"),
    [
        ("http://127.0.0.1:9000/hook", [], {}, "not in webhook_allow"),
        ("http://[::1]:9000/hook", [], {}, "not in webhook_allow"),
        ("http://10.1.2.3/hook", ["192.168.0.0/16"], {}, "not in webhook_allow"),
        ("http://192.168.1.20/hook", [], {}, "not in webhook_allow"),
        ("http://172.16.5.4/hook", ["10.0.0.0/8"], {}, "not in webhook_allow"),
        ("http://169.254.169.254/latest/meta-data/", ["0.0.0.0/0"], {}, "link-local"),
        ("http://[fe80::1]/hook", ["::/0"], {}, "link-local"),
        ("http://[::ffff:169.254.169.254]/", ["0.0.0.0/0", "::/0"], {}, "link-local"),
        ("http://[fd00:ec2::254]/", ["::/0"], {}, "metadata"),
        ("http://100.100.100.200/", ["0.0.0.0/0"], {}, "metadata"),
        ("http://0.0.0.0:9000/", ["0.0.0.0/0"], {}, "unspecified"),
        # an allowed *name* may not lead to a loopback, private or link-local address
        ("http://hooks.example.com/", ["hooks.example.com"], {"hooks.example.com": ["127.0.0.1"]},
         "a loopback address"),
        ("http://hooks.example.com/", ["hooks.example.com"], {"hooks.example.com": ["10.0.0.7"]},
         "a private address"),
        ("http://hooks.example.com/", ["hooks.example.com"],
         {"hooks.example.com": ["93.184.216.34", "169.254.169.254"]}, "link-local"),
        ("http://hooks.example.com/", ["hooks.example.com"], {"hooks.example.com": ["::1"]},
         "a loopback address"),
        ("http://metadata.google.internal/", ["metadata.google.internal"],
         {"metadata.google.internal": ["169.254.169.254"]}, "link-local"),
        ("http://other.example.com/", ["hooks.example.com"],
         {"other.example.com": ["93.184.216.34"]}, "not in webhook_allow"),
        ("http://hooks.example.com/", ["hooks.example.com"], {}, "cannot resolve"),
    ],
)  # fmt: skip
def test_a_refused_destination_gets_no_request(
    url: str, allow: list[str], table: dict[str, Sequence[str]], why: str
) -> None:
    result, recorder = deliver(url, allow, table)
    assert not result.ok and result.attempts == 0 and result.status_code is None
    assert result.error is not None and why in result.error, result.error
    assert recorder.requests == []


@pytest.mark.parametrize(
    "host", ["2130706433", "0x7f000001", "0177.0.0.1", "127.1", "0x7f.0.0.1", "017700000001"]
)
def test_ip_addresses_in_other_forms_are_refused_not_guessed(host: str) -> None:
    assert socket.inet_aton(host) == bytes([127, 0, 0, 1])  # what a C resolver would make of it
    with pytest.raises(InvalidInput, match="non-standard form"):
        send_webhook(f"http://{host}:9000/hook", an_event(), allow=LOCAL)
    with pytest.raises(InvalidInput, match="non-standard form"):
        parse_rules({"webhook": f"http://{host}/h", "webhook_allow": ["127.0.0.1"], "rules": []})
    with pytest.raises(InvalidInput, match="non-standard form"):
        WebhookAllow.parse([host])


def test_the_connection_goes_to_the_address_resolved_once_with_the_name_kept() -> None:
    calls: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]

    recorder = Recorder()
    allow = WebhookAllow.parse(["Hooks.Example.com"])
    with recorder.client() as client:
        result = send_webhook(
            "https://hooks.example.com/alerts?team=ml", an_event(), allow=allow, client=client,
            resolve=resolve,
        )  # fmt: skip
    assert (result.ok, result.address, calls) == (True, "93.184.216.34", ["hooks.example.com"])
    (request,) = recorder.requests
    assert str(request.url) == "https://93.184.216.34/alerts?team=ml"
    assert request.headers["host"] == "hooks.example.com"
    assert request.extensions["sni_hostname"] == "hooks.example.com"  # TLS: SNI and cert name
    assert json.loads(request.content)["rule"] == "accuracy-drop"


def test_an_ipv6_destination_and_a_port_keep_their_host_header() -> None:
    result, recorder = deliver("http://[2001:db8::5]:8443/h", ["2001:db8::/32"])
    assert result.ok
    (request,) = recorder.requests
    assert request.url.host == "2001:db8::5" and request.url.port == 8443
    assert request.headers["host"] == "[2001:db8::5]:8443"
    assert "sni_hostname" not in request.extensions
    private, recorder = deliver("http://10.1.2.3/hook", ["10.0.0.0/8"])  # allowed by network
    assert private.ok and recorder.requests[0].url.host == "10.1.2.3"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_never_followed(status: int) -> None:
    recorder = Recorder(status, {"Location": "http://169.254.169.254/latest/meta-data/"})
    with recorder.client() as client:
        result = send_webhook(
            "http://127.0.0.1:9000/hook", an_event(), allow=LOCAL, client=client,
        )  # fmt: skip
    assert (result.ok, result.status_code, result.attempts) == (False, status, 1)
    assert result.error is not None and "redirects are not followed" in result.error
    assert [str(r.url) for r in recorder.requests] == ["http://127.0.0.1:9000/hook"]


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ({"webhook": "http://127.0.0.1:9000/h", "rules": []}, "127.0.0.1 is not in webhook_allow"),
        ({"webhook": "https://hooks.example.com/h", "webhook_allow": ["10.0.0.0/8"], "rules": []},
         "hooks.example.com is not in webhook_allow"),
        ({"webhook_allow": "hooks.example.com", "rules": []}, "'webhook_allow' is a list"),
        ({"webhook_allow": [5], "rules": []}, "5 is not a host"),
        ({"webhook_allow": ["10.0.0.1/8"], "rules": []}, "10.0.0.1/8 is not a network"),
        ({"webhook_allow": ["169.254.169.254"], "rules": []}, "link-local, where webhooks never"),
        ({"webhook_allow": ["*.example.com"], "rules": []}, "is not a host name"),
        ({"webhook": "http://u:p@hooks.example.com/", "webhook_allow": ["hooks.example.com"],
          "rules": []}, "no user or password"),
    ],
)  # fmt: skip
def test_the_allow_list_in_the_rules_file(source: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        parse_rules(source)


def test_an_allowed_rules_file_round_trips() -> None:
    config = parse_rules(
        "webhook: https://hooks.example.com/alerts\n"
        "webhook_allow: [hooks.example.com, 10.0.0.0/8, '[::1]', 127.0.0.1]\nrules: []\n"
    )
    assert config.webhook_allow.to_list() == [
        "hooks.example.com",
        "10.0.0.0/8",
        "::1/128",
        "127.0.0.1/32",
    ]
    assert parse_rules({**config.to_dict(), "rules": []}).webhook_allow == config.webhook_allow
