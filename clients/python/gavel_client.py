"""A small client for the Gavel HTTP API (`gavel serve`).

Standard library only (Python 3.11+)::

    from gavel_client import GavelClient, GavelError

    gavel = GavelClient("http://127.0.0.1:7700", token="...")
    decision = gavel.evaluate({"agent_id": "customer-support", "action": "lookup_order"})
    if decision["verdict"] == "escalate":
        state = gavel.wait_for_escalation(decision["escalation"]["id"], timeout=300)

Every failed call raises :class:`GavelError`, built from the server's error
body ``{"error": {"code", "message", "field"?}}``. When no HTTP answer came
back at all (connection refused, DNS failure, timeout) the error's status
is 0 and its code ``unreachable`` (``timeout`` for a timed-out call).

Tokens are sent only as ``Authorization: Bearer ...`` headers; they never
appear in a ``repr``, an error message or a log line.
"""

from __future__ import annotations

import http.client
import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from typing import Any, Literal

__all__ = ["GavelClient", "GavelError", "DEFAULT_URL"]

DEFAULT_URL = "http://127.0.0.1:7700"

#: Longest single long-poll :meth:`GavelClient.wait_for_escalation` makes, in seconds.
MAX_POLL_SECONDS = 30.0

# The shortest interval between two long-polls of one escalation, in seconds.
_MIN_POLL_SECONDS = 1.0

# The error code to report when a non-2xx answer has no usable JSON error body.
_CODE_FOR_STATUS = {
    400: "invalid-request",
    401: "unauthorized",
    404: "not-found",
    405: "method-not-allowed",
    408: "body-timeout",
    409: "conflict",
    413: "body-too-large",
    500: "internal",
    503: "not-ready",
}

# How much of a non-JSON body goes into an error message.
_SNIPPET_CHARS = 200

_Auth = Literal["admin", "eval", "none"]


class GavelError(Exception):
    """A call to Gavel failed.

    Attributes:
        status: The HTTP status, or 0 when no HTTP answer arrived.
        code: The server's kebab-case error code (``invalid-request``,
            ``unauthorized``, ``not-found``, ``conflict``, ``body-too-large``,
            ``not-ready``, ``internal``, ...), or a client-side one:
            ``unreachable``, ``timeout``, ``invalid-response``, ``http-error``.
        message: A human-readable explanation.
        field: The request field at fault, for ``invalid-request``; else None.
    """

    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(status, code, message, field)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def __str__(self) -> str:
        where = f"HTTP {self.status}" if self.status else "no response"
        text = f"{where}: {self.code}: {self.message}"
        if self.field:
            text += f" (field: {self.field})"
        return text

    def __repr__(self) -> str:
        return (
            f"GavelError(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r}, field={self.field!r})"
        )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects, so a bearer token is never replayed to another URL."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        """Follow no redirect: the 3xx answer is reported as it is."""
        return None


class GavelClient:
    """A client for one Gavel server.

    Args:
        base_url: The server's root URL, e.g. ``http://127.0.0.1:7700``.
        token: The evaluation token, sent on evaluate calls and escalation
            polls. When None the admin token is used there instead (and when
            both are None no Authorization header is sent, which suits a
            server without an eval token).
        admin_token: The admin token, sent on every admin call.
        timeout: Seconds to wait for an answer to one call. A long-poll
            waits this much longer than the ``wait`` it asks for.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        token: str | None = None,
        admin_token: str | None = None,
        timeout: float = 10.0,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._token = token
        self._admin_token = admin_token
        self._opener = urllib.request.build_opener(_NoRedirect())

    def __repr__(self) -> str:
        return (
            f"GavelClient(base_url={self.base_url!r}, "
            f"token={'set' if self._token else None}, "
            f"admin_token={'set' if self._admin_token else None}, "
            f"timeout={self.timeout!r})"
        )

    # ---- evaluation -------------------------------------------------------

    def evaluate(self, action: dict[str, Any]) -> dict[str, Any]:
        """Evaluate one action; return the decision.

        ``action`` is ``{"agent_id", "action", "request_id"?, "params"?,
        "amount"?, "currency"?, "timestamp"?, "session_id"?, "user_id"?}``.
        The decision's ``verdict`` is ``approve``, ``deny`` or ``escalate``;
        for ``escalate`` its ``escalation`` holds the id to wait on.
        """
        return self._json("POST", "/v1/evaluate", body=action, auth="eval")

    def evaluate_batch(self, actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Evaluate several actions in one call; return the results in order.

        Each result is a decision, or ``{"error": {...}}`` for an action the
        server refused (the rest are still evaluated). A batch over the
        server's limit (default 100) raises ``invalid-request`` on ``actions``.
        """
        answer = self._json("POST", "/v1/evaluate/batch", body={"actions": list(actions)}, auth="eval")
        return _member(answer, "results", "POST /v1/evaluate/batch")

    # ---- escalations ------------------------------------------------------

    def escalation(self, id: str, wait: float | None = None) -> dict[str, Any]:
        """Fetch an escalation, long-polling up to ``wait`` seconds.

        With ``wait`` the server answers as soon as the escalation is no
        longer ``pending``, or when ``wait`` has passed (still ``pending``);
        it caps the wait at 60 s. Uses the evaluation token.
        """
        query = None
        timeout = self.timeout
        if wait is not None:
            query = {"wait": _duration(wait)}
            timeout += wait
        return self._json("GET", f"/v1/escalations/{_segment(id)}", query=query, auth="eval", timeout=timeout)

    def wait_for_escalation(self, id: str, timeout: float) -> dict[str, Any]:
        """Wait up to ``timeout`` seconds for an escalation to be resolved.

        Long-polls (at most 30 s per call) until the status is not
        ``pending`` or ``timeout`` has passed, and returns the last state
        seen: ``approved``, ``denied``, ``expired`` (which means deny), or
        ``pending`` if nobody decided in time. Always polls at least once.
        """
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            started = time.monotonic()
            wait = min(max(deadline - started, 0.0), MAX_POLL_SECONDS)
            state = self.escalation(id, wait=wait)
            now = time.monotonic()
            if state.get("status") != "pending" or now >= deadline:
                return state
            # A server that answers "pending" long before the wait is over
            # (a lower cap, a restart) is polled at most about once a second.
            pause = min(wait, _MIN_POLL_SECONDS) - (now - started)
            if pause > 0:
                time.sleep(min(pause, deadline - now))

    def escalations(self, status: str = "pending") -> list[dict[str, Any]]:
        """List escalations by status: ``pending`` (default), ``approved``,
        ``denied``, ``expired`` or ``all``. Admin."""
        answer = self._json("GET", "/v1/escalations", query={"status": status}, auth="admin")
        return _member(answer, "escalations", "GET /v1/escalations")

    def approve(self, id: str, reviewer: str, comment: str = "") -> dict[str, Any]:
        """Approve a pending escalation; return it as changed. Admin.

        Raises ``conflict`` (409) when it is no longer pending and
        ``not-found`` (404) for an unknown id.
        """
        return self._resolve(id, "approve", reviewer, comment)

    def deny(self, id: str, reviewer: str, comment: str = "") -> dict[str, Any]:
        """Deny a pending escalation; return it as changed. Admin.

        Raises ``conflict`` (409) when it is no longer pending and
        ``not-found`` (404) for an unknown id.
        """
        return self._resolve(id, "deny", reviewer, comment)

    def _resolve(self, id: str, outcome: str, reviewer: str, comment: str) -> dict[str, Any]:
        body: dict[str, Any] = {"reviewer": reviewer}
        if comment:
            body["comment"] = comment
        return self._json("POST", f"/v1/escalations/{_segment(id)}/{outcome}", body=body, auth="admin")

    # ---- kill switch ------------------------------------------------------

    def killswitch(self, engaged: bool, reason: str, actor: str, agent: str | None = None) -> dict[str, Any]:
        """Engage or release the kill switch; return its state. Admin.

        With ``agent`` only that agent's switch changes; without, the global
        one. While engaged, evaluations are denied with code ``kill-switch``.
        """
        body: dict[str, Any] = {"engaged": engaged, "reason": reason, "actor": actor}
        if agent is not None:
            body["agent"] = agent
        return self._json("POST", "/v1/killswitch", body=body, auth="admin")

    def killswitch_status(self) -> dict[str, Any]:
        """The kill switch state: ``{"engaged", "global", "agents"}``. Admin."""
        return self._json("GET", "/v1/killswitch", auth="admin")

    # ---- decision log -----------------------------------------------------

    def decisions(self, **filters: str | int | datetime | None) -> dict[str, Any]:
        """Query the decision log, newest first: ``{"records": [...]}``. Admin.

        Filters (all optional; None means absent): ``agent``, ``action``,
        ``verdict`` (approve|deny|escalate), ``policy``, ``kind``
        (decision|policy-set-loaded|policy-set-rejected|kill-switch|
        escalation-resolved), ``since`` and ``until``
        (RFC 3339 strings or timezone-aware datetimes), ``limit`` (default
        100, at most 1000).
        """
        query = {name: _query_value(value) for name, value in filters.items() if value is not None}
        return self._json("GET", "/v1/decisions", query=query, auth="admin")

    def decision(self, seq: int) -> dict[str, Any]:
        """One log record by sequence number. Admin; ``not-found`` if absent."""
        return self._json("GET", f"/v1/decisions/{int(seq)}", auth="admin")

    # ---- policies ---------------------------------------------------------

    def policies(self) -> dict[str, Any]:
        """The live policy set: ``{"generation", "live_since", "policies",
        "kept", "last_rejection"}``. Admin."""
        return self._json("GET", "/v1/policies", auth="admin")

    def rollback(self, generation: int | None = None) -> dict[str, Any]:
        """Go back to a kept policy-set generation (the previous one when
        None); return ``{"generation"}``. Admin; ``not-found`` for an
        unknown generation."""
        body = {} if generation is None else {"generation": generation}
        return self._json("POST", "/v1/policies/rollback", body=body, auth="admin")

    # ---- operations -------------------------------------------------------

    def health(self) -> bool:
        """True when the server answers ``/healthz`` with ok; False otherwise
        (including when it cannot be reached)."""
        try:
            answer = self._json("GET", "/healthz", auth="none")
        except GavelError:
            return False
        return isinstance(answer, dict) and answer.get("status") == "ok"

    def ready(self) -> dict[str, Any]:
        """The readiness report ``{"ready", "generation", "log", "reason"?}``.

        A not-ready server (503) is reported, not raised: ``ready`` is
        False and ``reason`` says why.
        """
        status, raw = self._send("GET", "/readyz", auth="none")
        if status == 503:
            report = _json_or_none(raw)
            if isinstance(report, dict) and "ready" in report:
                return report
        return _decode(status, raw, "GET /readyz")

    def metrics(self) -> str:
        """The Prometheus text exposition from ``/metrics``."""
        return self._call("GET", "/metrics", auth="none", accept="text/plain").decode("utf-8", errors="replace")

    # ---- transport --------------------------------------------------------

    def _json(self, method: str, path: str, **options: Any) -> Any:
        """Make a call and decode its JSON answer; raise GavelError on failure."""
        status, raw = self._send(method, path, **options)
        return _decode(status, raw, f"{method} {path}")

    def _call(self, method: str, path: str, **options: Any) -> bytes:
        """Make a call; return the body of a 2xx answer or raise GavelError."""
        status, raw = self._send(method, path, **options)
        if not 200 <= status < 300:
            raise _error_from_response(status, raw)
        return raw

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: dict[str, str] | None = None,
        auth: _Auth,
        timeout: float | None = None,
        accept: str = "application/json",
    ) -> tuple[int, bytes]:
        """Make a call; return the HTTP status and body of whatever answer
        came back. Raises GavelError (status 0) only when none did."""
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        headers = {"Accept": accept}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        token = self._token_for(auth)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        what = f"{method} {path}"
        try:
            return self._exchange(request, self.timeout if timeout is None else timeout)
        except TimeoutError:
            raise GavelError(0, "timeout", f"{what}: no answer from {self.base_url} in time") from None
        except urllib.error.URLError as failure:
            if isinstance(failure.reason, TimeoutError):
                raise GavelError(0, "timeout", f"{what}: no answer from {self.base_url} in time") from None
            raise GavelError(0, "unreachable", f"{what}: cannot reach {self.base_url}: {failure.reason}") from None
        except OSError as failure:  # e.g. the connection was reset mid-answer
            raise GavelError(0, "unreachable", f"{what}: connection to {self.base_url} failed: {failure}") from None
        except http.client.HTTPException as failure:  # not an HTTP answer
            message = f"{what}: {self.base_url} did not answer in HTTP: {failure!r}"
            raise GavelError(0, "invalid-response", message) from None

    def _exchange(self, request: urllib.request.Request, timeout: float) -> tuple[int, bytes]:
        """Send ``request``; return the status and body of any HTTP answer."""
        try:
            response = self._opener.open(request, timeout=timeout)
        except urllib.error.HTTPError as failure:
            response = failure  # a non-2xx answer is still an answer
        with response:
            return response.getcode(), response.read()

    def _token_for(self, auth: _Auth) -> str | None:
        if auth == "admin":
            return self._admin_token
        if auth == "eval":
            return self._token if self._token is not None else self._admin_token
        return None


def _decode(status: int, raw: bytes, what: str) -> Any:
    """The JSON of a 2xx answer; GavelError for anything else."""
    if not 200 <= status < 300:
        raise _error_from_response(status, raw)
    value = _json_or_none(raw)
    if value is None:
        raise GavelError(status, "invalid-response", f"{what}: the answer is not JSON: {_snippet(raw)!r}")
    return value


def _member(answer: Any, key: str, what: str) -> list[Any]:
    """The list ``answer[key]``, or GavelError if the answer has none."""
    value = answer.get(key) if isinstance(answer, dict) else None
    if not isinstance(value, list):
        raise GavelError(200, "invalid-response", f"{what}: the answer has no `{key}` list")
    return value


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _error_from_response(status: int, raw: bytes) -> GavelError:
    """Build the error for a non-2xx answer from its body, whatever it holds."""
    payload = _json_or_none(raw)
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        field = error.get("field")
        return GavelError(
            status,
            error["code"],
            str(error.get("message", "")),
            field if isinstance(field, str) else None,
        )
    code = _CODE_FOR_STATUS.get(status, "http-error")
    message = _snippet(raw) or f"HTTP {status} with an empty body"
    return GavelError(status, code, message)


def _snippet(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace").strip()
    if len(text) > _SNIPPET_CHARS:
        text = text[:_SNIPPET_CHARS] + "..."
    return text


def _segment(value: str) -> str:
    """Quote one path segment (an escalation id may hold any character)."""
    return urllib.parse.quote(str(value), safe="")


def _duration(seconds: float) -> str:
    """Seconds as a Gavel duration: ``30s``, or ``1500ms`` when fractional."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"wait must be a finite number of seconds >= 0, not {seconds!r}")
    millis = round(seconds * 1000)
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


def _query_value(value: str | int | datetime) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a datetime filter must be timezone-aware")
        return value.isoformat()
    return str(value)
