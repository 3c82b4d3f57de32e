"""Tests of the Python client against an in-process fake Gavel server.

    python3 -m unittest discover -s clients/python/tests

The fake records every request (method, path, query, headers, JSON body)
and answers from per-test routes, so each test checks both what the client
sent and what it made of the answer.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import socket
import sys
import threading
import time
import unittest
import urllib.parse
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, NamedTuple
from unittest import mock

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import gavel_client  # noqa: E402
from gavel_client import GavelClient, GavelError  # noqa: E402

EVAL_TOKEN = "eval-secret-123"
ADMIN_TOKEN = "admin-secret-456"

_environment = mock.patch.dict(os.environ, {"no_proxy": "*", "NO_PROXY": "*"})


def setUpModule() -> None:
    # The fake listens on 127.0.0.1: keep any configured HTTP proxy out of it.
    _environment.start()


def tearDownModule() -> None:
    _environment.stop()


class Seen(NamedTuple):
    """One request as the fake server received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


class Answer(NamedTuple):
    status: int
    body: bytes
    content_type: str = "application/json"


def answer(status: int, payload: Any) -> Answer:
    return Answer(status, json.dumps(payload).encode())


def error(status: int, code: str, message: str, field: str | None = None) -> Answer:
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    return answer(status, {"error": body})


Route = Callable[[Seen], Answer]


class FakeGavel(ThreadingHTTPServer):
    """An HTTP server that records requests and answers from ``routes``."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[tuple[str, str], Route | Answer] = {}
        self.seen: list[Seen] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, method: str, path: str, reply: Route | Answer) -> None:
        self.routes[(method, path)] = reply

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (the timeout test) is no failure of the fake

    def handle_request_from(self, seen: Seen) -> Answer:
        with self.lock:
            self.seen.append(seen)
        reply = self.routes.get((seen.method, seen.path))
        if reply is None:
            return error(404, "not-found", f"no route for {seen.method} {seen.path}")
        return reply(seen) if callable(reply) else reply


class _Handler(BaseHTTPRequestHandler):
    server: FakeGavel
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        seen = Seen(
            method=self.command,
            path=urllib.parse.unquote(url.path),
            query=dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=json.loads(raw) if raw else None,
        )
        reply = self.server.handle_request_from(seen)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        if reply.status in (301, 302, 307, 308):
            self.send_header("Location", "/elsewhere")
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean


def parse_duration(text: str) -> float:
    """``30s``, ``500ms``, ``2m`` as seconds."""
    for suffix, scale in (("ms", 0.001), ("s", 1.0), ("m", 60.0)):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * scale
    raise ValueError(text)


DECISION = {
    "request_id": "r-1",
    "verdict": "approve",
    "reasons": [],
    "policies": [],
    "generation": 1,
    "seq": 7,
    "escalation": None,
}


def escalation(status: str, resolution: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": "esc-1",
        "status": status,
        "request_id": "r-5",
        "agent_id": "customer-support",
        "action": "issue_refund",
        "request": {"agent_id": "customer-support", "action": "issue_refund", "amount": 150},
        "reasons": [{"policy": "transaction-limit", "verdict": "escalate", "code": "approval-threshold",
                     "message": "..."}],
        "created_at": "2026-01-01T00:00:00Z",
        "deadline": "2026-01-01T01:00:00Z",
        "resolution": resolution,
    }


class FakeServerTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.server = FakeGavel()
        thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        thread.start()
        self.addCleanup(thread.join)
        self.addCleanup(self.server.server_close)
        self.addCleanup(self.server.shutdown)
        self.client = GavelClient(self.server.url, token=EVAL_TOKEN, admin_token=ADMIN_TOKEN, timeout=5.0)

    def only_request(self) -> Seen:
        self.assertEqual(len(self.server.seen), 1, self.server.seen)
        return self.server.seen[0]

    def assertBearer(self, seen: Seen, token: str | None) -> None:
        if token is None:
            self.assertNotIn("authorization", seen.headers)
        else:
            self.assertEqual(seen.headers.get("authorization"), f"Bearer {token}")


class EvaluateTests(FakeServerTestCase):
    def test_evaluate_posts_the_action_with_the_eval_token(self) -> None:
        self.server.route("POST", "/v1/evaluate", answer(200, DECISION))
        action = {"agent_id": "customer-support", "action": "lookup_order", "params": {"order_id": "A-1"}}
        self.assertEqual(self.client.evaluate(action), DECISION)
        seen = self.only_request()
        self.assertEqual(seen.body, action)
        self.assertEqual(seen.headers["content-type"], "application/json")
        self.assertBearer(seen, EVAL_TOKEN)

    def test_evaluate_falls_back_to_the_admin_token(self) -> None:
        self.server.route("POST", "/v1/evaluate", answer(200, DECISION))
        GavelClient(self.server.url, admin_token=ADMIN_TOKEN).evaluate({"agent_id": "a", "action": "b"})
        self.assertBearer(self.only_request(), ADMIN_TOKEN)

    def test_no_token_sends_no_authorization(self) -> None:
        self.server.route("POST", "/v1/evaluate", answer(200, DECISION))
        GavelClient(self.server.url).evaluate({"agent_id": "a", "action": "b"})
        self.assertBearer(self.only_request(), None)

    def test_batch_keeps_order_and_errors_in_place(self) -> None:
        results = [DECISION, {"error": {"code": "invalid-request", "message": "bad", "field": "amount"}}]
        self.server.route("POST", "/v1/evaluate/batch", answer(200, {"results": results}))
        actions = [{"agent_id": "a", "action": "b"}, {"agent_id": "a", "action": "b", "amount": -1}]
        self.assertEqual(self.client.evaluate_batch(actions), results)
        seen = self.only_request()
        self.assertEqual(seen.body, {"actions": actions})
        self.assertBearer(seen, EVAL_TOKEN)

    def test_batch_over_the_limit(self) -> None:
        self.server.route("POST", "/v1/evaluate/batch", error(400, "invalid-request", "at most 100 actions", "actions"))
        with self.assertRaises(GavelError) as caught:
            self.client.evaluate_batch([{"agent_id": "a", "action": "b"}] * 101)
        self.assertEqual((caught.exception.status, caught.exception.field), (400, "actions"))


class AdminTests(FakeServerTestCase):
    def test_admin_reads_use_the_admin_token(self) -> None:
        calls = [
            ("/v1/killswitch", self.client.killswitch_status, {"engaged": False, "global": None, "agents": {}}),
            ("/v1/policies", self.client.policies, {"generation": 2, "live_since": "2026-01-01T00:00:00Z",
                                                    "policies": [], "kept": [1, 2], "last_rejection": None}),
            ("/v1/decisions/42", lambda: self.client.decision(42), {"seq": 42, "kind": "decision"}),
        ]
        for path, call, payload in calls:
            with self.subTest(path=path):
                self.server.seen.clear()
                self.server.route("GET", path, answer(200, payload))
                self.assertEqual(call(), payload)
                seen = self.only_request()
                self.assertEqual((seen.method, seen.path, seen.body), ("GET", path, None))
                self.assertBearer(seen, ADMIN_TOKEN)

    def test_admin_calls_without_an_admin_token_send_none(self) -> None:
        self.server.route("GET", "/v1/policies", error(401, "unauthorized", "missing bearer token"))
        with self.assertRaises(GavelError) as caught:
            GavelClient(self.server.url, token=EVAL_TOKEN).policies()
        self.assertEqual((caught.exception.status, caught.exception.code), (401, "unauthorized"))
        self.assertBearer(self.only_request(), None)

    def test_escalations_list(self) -> None:
        self.server.route("GET", "/v1/escalations", answer(200, {"escalations": [escalation("pending")]}))
        self.assertEqual(self.client.escalations(), [escalation("pending")])
        self.assertEqual(self.client.escalations("all"), [escalation("pending")])
        first, second = self.server.seen
        self.assertEqual(first.query, {"status": "pending"})
        self.assertEqual(second.query, {"status": "all"})
        self.assertBearer(first, ADMIN_TOKEN)

    def test_approve_and_deny(self) -> None:
        resolved = escalation("approved", {"reviewer": "dana", "comment": "ok", "at": "2026-01-01T00:05:00Z"})
        self.server.route("POST", "/v1/escalations/esc 1/approve", answer(200, resolved))
        self.server.route("POST", "/v1/escalations/esc-1/deny", answer(200, escalation("denied")))
        self.assertEqual(self.client.approve("esc 1", "dana", "ok"), resolved)
        self.assertEqual(self.client.deny("esc-1", "dana")["status"], "denied")
        approve, deny = self.server.seen
        self.assertEqual(approve.body, {"reviewer": "dana", "comment": "ok"})
        self.assertEqual(deny.body, {"reviewer": "dana"})
        self.assertBearer(approve, ADMIN_TOKEN)
        self.assertBearer(deny, ADMIN_TOKEN)

    def test_resolving_twice_is_a_conflict(self) -> None:
        self.server.route("POST", "/v1/escalations/esc-1/deny", error(409, "conflict", "escalation esc-1 is approved"))
        with self.assertRaises(GavelError) as caught:
            self.client.deny("esc-1", "dana")
        self.assertEqual((caught.exception.status, caught.exception.code), (409, "conflict"))

    def test_killswitch(self) -> None:
        state = {"engaged": True, "global": {"actor": "ops", "reason": "incident", "since": "2026-01-01T00:00:00Z"},
                 "agents": {}}
        self.server.route("POST", "/v1/killswitch", answer(200, state))
        self.assertEqual(self.client.killswitch(True, "incident", "ops"), state)
        self.client.killswitch(False, "resolved", "ops", agent="customer-support")
        engage, release = self.server.seen
        self.assertEqual(engage.body, {"engaged": True, "reason": "incident", "actor": "ops"})
        self.assertEqual(release.body, {"engaged": False, "reason": "resolved", "actor": "ops",
                                        "agent": "customer-support"})
        self.assertBearer(engage, ADMIN_TOKEN)

    def test_decisions_filters_become_the_query(self) -> None:
        self.server.route("GET", "/v1/decisions", answer(200, {"records": []}))
        since = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
        self.assertEqual(self.client.decisions(agent="customer-support", verdict="deny", since=since,
                                               until="2026-02-01T00:00:00Z", limit=5, policy=None),
                         {"records": []})
        seen = self.only_request()
        self.assertEqual(seen.query, {"agent": "customer-support", "verdict": "deny",
                                      "since": "2026-01-02T03:04:05+00:00",
                                      "until": "2026-02-01T00:00:00Z", "limit": "5"})
        self.assertBearer(seen, ADMIN_TOKEN)

    def test_rollback(self) -> None:
        self.server.route("POST", "/v1/policies/rollback", answer(200, {"generation": 3}))
        self.assertEqual(self.client.rollback(), {"generation": 3})
        self.assertEqual(self.client.rollback(3), {"generation": 3})
        self.assertEqual([seen.body for seen in self.server.seen], [{}, {"generation": 3}])


class OperationsTests(FakeServerTestCase):
    def test_health(self) -> None:
        self.server.route("GET", "/healthz", answer(200, {"status": "ok"}))
        self.assertTrue(self.client.health())
        self.assertBearer(self.only_request(), None)
        self.server.route("GET", "/healthz", Answer(500, b"oops", "text/plain"))
        self.assertFalse(self.client.health())

    def test_ready_and_not_ready(self) -> None:
        ready = {"ready": True, "generation": 2, "log": "writable"}
        self.server.route("GET", "/readyz", answer(200, ready))
        self.assertEqual(self.client.ready(), ready)
        not_ready = {"ready": False, "generation": 2, "log": "failed", "reason": "decision log is not writable"}
        self.server.route("GET", "/readyz", answer(503, not_ready))
        self.assertEqual(self.client.ready(), not_ready)

    def test_metrics_is_text(self) -> None:
        text = "# TYPE gavel_decisions_total counter\ngavel_decisions_total{verdict=\"approve\"} 3\n"
        self.server.route("GET", "/metrics", Answer(200, text.encode(), "text/plain; version=0.0.4"))
        self.assertEqual(self.client.metrics(), text)
        self.assertBearer(self.only_request(), None)


class ErrorTests(FakeServerTestCase):
    def evaluate_error(self, reply: Answer) -> GavelError:
        self.server.route("POST", "/v1/evaluate", reply)
        with self.assertRaises(GavelError) as caught:
            self.client.evaluate({"agent_id": "a", "action": "b"})
        return caught.exception

    def test_invalid_request_names_the_field(self) -> None:
        failure = self.evaluate_error(error(400, "invalid-request", "must be a finite number >= 0", "amount"))
        self.assertEqual((failure.status, failure.code, failure.message, failure.field),
                         (400, "invalid-request", "must be a finite number >= 0", "amount"))
        self.assertIn("field: amount", str(failure))

    def test_server_error_codes(self) -> None:
        cases = [
            (401, "unauthorized", "missing or wrong bearer token"),
            (404, "not-found", "no escalation esc-9"),
            (413, "body-too-large", "the body is over 1 MiB"),
            (503, "not-ready", "no policy set is live"),
        ]
        for status, code, message in cases:
            with self.subTest(code=code):
                failure = self.evaluate_error(error(status, code, message))
                self.assertEqual((failure.status, failure.code, failure.message, failure.field),
                                 (status, code, message, None))

    def test_not_found_on_escalation(self) -> None:
        with self.assertRaises(GavelError) as caught:
            self.client.escalation("nope")
        self.assertEqual((caught.exception.status, caught.exception.code), (404, "not-found"))

    def test_non_json_error_body(self) -> None:
        failure = self.evaluate_error(Answer(500, b"<html>Internal Server Error</html>", "text/html"))
        self.assertEqual((failure.status, failure.code, failure.field), (500, "internal", None))
        self.assertIn("Internal Server Error", failure.message)

    def test_json_error_body_of_another_shape(self) -> None:
        failure = self.evaluate_error(answer(502, {"detail": "bad gateway"}))
        self.assertEqual((failure.status, failure.code), (502, "http-error"))

    def test_non_json_success_body(self) -> None:
        failure = self.evaluate_error(Answer(200, b"hello", "text/plain"))
        self.assertEqual((failure.status, failure.code), (200, "invalid-response"))

    def test_redirects_are_not_followed(self) -> None:
        self.server.route("GET", "/elsewhere", answer(200, {"status": "ok"}))
        failure = self.evaluate_error(Answer(307, b""))
        self.assertEqual((failure.status, failure.code), (307, "http-error"))
        self.assertEqual([seen.path for seen in self.server.seen], ["/v1/evaluate"])

    def test_connection_refused(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        client = GavelClient(f"http://127.0.0.1:{port}", token=EVAL_TOKEN, admin_token=ADMIN_TOKEN)
        with self.assertRaises(GavelError) as caught:
            client.evaluate({"agent_id": "a", "action": "b"})
        failure = caught.exception
        self.assertEqual((failure.status, failure.code, failure.field), (0, "unreachable", None))
        self.assertFalse(client.health())

    def test_timeout(self) -> None:
        def slow(seen: Seen) -> Answer:
            time.sleep(1.0)
            return answer(200, DECISION)

        self.server.route("POST", "/v1/evaluate", slow)
        client = GavelClient(self.server.url, timeout=0.2)
        with self.assertRaises(GavelError) as caught:
            client.evaluate({"agent_id": "a", "action": "b"})
        self.assertEqual((caught.exception.status, caught.exception.code), (0, "timeout"))

    def test_tokens_stay_secret(self) -> None:
        failure = self.evaluate_error(error(401, "unauthorized", "wrong bearer token"))
        for text in (repr(self.client), str(failure), repr(failure)):
            self.assertNotIn(EVAL_TOKEN, text)
            self.assertNotIn(ADMIN_TOKEN, text)


class EscalationWaitTests(FakeServerTestCase):
    def long_poll(self, states: list[str]) -> Route:
        """A long-poll that answers each state in turn (the last one forever);
        "pending" is answered only once the requested wait has passed."""
        remaining = list(states)

        def reply(seen: Seen) -> Answer:
            status = remaining.pop(0) if len(remaining) > 1 else remaining[0]
            if status == "pending" and "wait" in seen.query:
                time.sleep(min(parse_duration(seen.query["wait"]), 0.05))
            resolution = None
            if status != "pending":
                resolution = {"reviewer": "dana", "comment": "", "at": "2026-01-01T00:05:00Z"}
            return answer(200, escalation(status, resolution))

        return reply

    def test_one_long_poll(self) -> None:
        self.server.route("GET", "/v1/escalations/esc-1", self.long_poll(["pending"]))
        self.assertEqual(self.client.escalation("esc-1", wait=2.5)["status"], "pending")
        self.assertEqual(self.client.escalation("esc-1", wait=30)["status"], "pending")
        self.assertEqual(self.client.escalation("esc-1")["status"], "pending")
        first, second, third = self.server.seen
        self.assertEqual(first.query, {"wait": "2500ms"})
        self.assertEqual(second.query, {"wait": "30s"})
        self.assertEqual(third.query, {})
        for seen in self.server.seen:
            self.assertBearer(seen, EVAL_TOKEN)

    def test_negative_wait_is_refused(self) -> None:
        with self.assertRaises(ValueError):
            self.client.escalation("esc-1", wait=-1)
        self.assertEqual(self.server.seen, [])

    def test_waits_until_resolved(self) -> None:
        self.server.route("GET", "/v1/escalations/esc-1", self.long_poll(["pending", "pending", "approved"]))
        with mock.patch.object(gavel_client, "_MIN_POLL_SECONDS", 0.0):
            state = self.client.wait_for_escalation("esc-1", timeout=300)
        self.assertEqual(state["status"], "approved")
        self.assertEqual(state["resolution"]["reviewer"], "dana")
        self.assertEqual(len(self.server.seen), 3)
        for seen in self.server.seen:
            self.assertLessEqual(parse_duration(seen.query["wait"]), 30.0)
            self.assertBearer(seen, EVAL_TOKEN)
        self.assertEqual(self.server.seen[0].query["wait"], "30s")

    def test_stops_at_a_denial_or_expiry(self) -> None:
        for final in ("denied", "expired"):
            with self.subTest(final=final):
                self.server.seen.clear()
                self.server.route("GET", "/v1/escalations/esc-1", self.long_poll(["pending", final]))
                with mock.patch.object(gavel_client, "_MIN_POLL_SECONDS", 0.0):
                    self.assertEqual(self.client.wait_for_escalation("esc-1", timeout=60)["status"], final)
                self.assertEqual(len(self.server.seen), 2)

    def test_gives_up_at_the_timeout(self) -> None:
        self.server.route("GET", "/v1/escalations/esc-1", self.long_poll(["pending"]))
        started = time.monotonic()
        state = self.client.wait_for_escalation("esc-1", timeout=0.3)
        elapsed = time.monotonic() - started
        self.assertEqual(state["status"], "pending")
        self.assertGreaterEqual(elapsed, 0.3)
        self.assertLess(elapsed, 3.0)
        waits = [parse_duration(seen.query["wait"]) for seen in self.server.seen]
        self.assertGreaterEqual(len(waits), 1)
        self.assertLessEqual(max(waits), 0.3)

    def test_zero_timeout_polls_once(self) -> None:
        self.server.route("GET", "/v1/escalations/esc-1", self.long_poll(["pending"]))
        self.assertEqual(self.client.wait_for_escalation("esc-1", timeout=0)["status"], "pending")
        self.assertEqual(self.only_request().query, {"wait": "0s"})

    def test_a_server_answering_early_is_not_hammered(self) -> None:
        self.server.route("GET", "/v1/escalations/esc-1", answer(200, escalation("pending")))
        self.client.wait_for_escalation("esc-1", timeout=0.5)
        self.assertLessEqual(len(self.server.seen), 2)


def load_example_agent() -> Any:
    """Import examples/agent.py as a module."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "agent.py")
    spec = importlib.util.spec_from_file_location("gavel_example_agent", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shipped_policies(seen: Seen) -> Answer:
    """What the shipped policies answer for the example agent's actions."""
    action = seen.body
    reasons: list[dict[str, str]] = []
    escalation_opened = None
    if action["action"] == "send_email":
        reasons = [{"policy": "pii-egress", "verdict": "deny", "code": "pii-detected",
                    "message": "PII in params.body: credit_card; params.to: email"}]
    elif action["action"] == "delete_account":
        reasons = [{"policy": "sensitive-actions", "verdict": "deny", "code": "forbidden-action",
                    "message": "action `delete_account` is forbidden"}]
    elif action["action"] == "issue_refund" and action["amount"] > 500:
        reasons = [{"policy": "transaction-limit", "verdict": "deny", "code": "over-limit", "message": "..."}]
    elif action["action"] == "issue_refund" and action["amount"] > 100:
        reasons = [{"policy": "transaction-limit", "verdict": "escalate", "code": "approval-threshold",
                    "message": "..."}]
        escalation_opened = {"id": "esc-1", "status": "pending", "deadline": "2026-01-01T01:00:00Z"}
    verdict = reasons[0]["verdict"] if reasons else "approve"
    return answer(200, {**DECISION, "request_id": action["request_id"], "verdict": verdict, "reasons": reasons,
                        "escalation": escalation_opened})


class ExampleAgentTests(FakeServerTestCase):
    def run_agent(self, *args: str) -> tuple[int, str, str]:
        agent = load_example_agent()
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                mock.patch.dict(os.environ, {"GAVEL_URL": self.server.url, "GAVEL_TOKEN": EVAL_TOKEN}):
            code = agent.main(list(args))
        return code, out.getvalue(), err.getvalue()

    def test_session_with_an_approved_refund(self) -> None:
        self.server.route("POST", "/v1/evaluate", shipped_policies)
        self.server.route("GET", "/v1/escalations/esc-1", answer(200, escalation("approved", {
            "reviewer": "dana", "comment": "", "at": "2026-01-01T00:05:00Z"})))
        code, out, err = self.run_agent("--wait", "5")
        self.assertEqual((code, err), (0, ""), out)
        lines = out.splitlines()
        self.assertRegex(lines[1], r"^\[1\] lookup_order +approve +-$")
        self.assertRegex(lines[2], r"^\[2\] send_email +deny +pii-egress:pii-detected$")
        self.assertRegex(lines[3], r"^\[3\] delete_account +deny +sensitive-actions:forbidden-action$")
        self.assertRegex(lines[4], r"^\[4\] issue_refund 650 USD +deny +transaction-limit:over-limit$")
        self.assertRegex(lines[5], r"^\[5\] issue_refund 150 USD +escalate +transaction-limit:approval-threshold$")
        self.assertIn("esc-1", lines[6])
        self.assertIn("waiting for a reviewer", lines[6])
        self.assertIn("issuing the refund", out)
        actions = [seen.body for seen in self.server.seen if seen.path == "/v1/evaluate"]
        self.assertEqual([a["action"] for a in actions],
                         ["lookup_order", "send_email", "delete_account", "issue_refund", "issue_refund"])
        self.assertEqual(actions[1]["params"]["to"], "customer@gmail.com")
        self.assertIn("4111 1111 1111 1111", actions[1]["params"]["body"])
        self.assertEqual([(a.get("amount"), a.get("currency")) for a in actions[3:]], [(650, "USD"), (150, "USD")])
        for n, action in enumerate(actions, 1):
            self.assertEqual(action["agent_id"], "customer-support")
            self.assertRegex(action["request_id"], rf"^agent-demo-{n}-[0-9a-f]+$")
            self.assertNotIn("timestamp", action)
        for seen in self.server.seen:
            self.assertBearer(seen, EVAL_TOKEN)
        self.assertNotIn(EVAL_TOKEN, out)

    def test_denied_or_expired_refund_exits_4(self) -> None:
        self.server.route("POST", "/v1/evaluate", shipped_policies)
        for status in ("denied", "expired"):
            with self.subTest(status=status):
                self.server.route("GET", "/v1/escalations/esc-1", answer(200, escalation(status)))
                code, out, _ = self.run_agent("--url", self.server.url, "--wait", "5")
                self.assertEqual(code, 4, out)
                self.assertIn(status if status == "expired" else "denied", out)
                self.assertNotIn("proceeding", out)

    def test_a_gavel_error_exits_1(self) -> None:
        self.server.route("POST", "/v1/evaluate", error(401, "unauthorized", "wrong bearer token"))
        code, out, err = self.run_agent("--token", "wrong")
        self.assertEqual(code, 1)
        self.assertIn("unauthorized", err)
        self.assertBearer(self.server.seen[0], "wrong")


if __name__ == "__main__":
    unittest.main()
