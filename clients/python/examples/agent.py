#!/usr/bin/env python3
"""A scripted customer-support agent that asks Gavel before every action.

    python3 agent.py --url http://127.0.0.1:7700 [--token TOKEN] [--wait SECONDS]

``--url`` and ``--token`` default to the GAVEL_URL and GAVEL_TOKEN
environment variables. Against the shipped policies the session goes:

1. ``lookup_order``                      approved
2. ``send_email`` with a card number     denied by pii-egress
3. ``delete_account``                    denied: forbidden for every agent
4. ``issue_refund`` of 650 USD           denied: over the 500 USD limit
5. ``issue_refund`` of 150 USD           escalated (above 100 USD): the agent
   waits up to ``--wait`` seconds (default 300) for a reviewer.

Exit codes: 0 when the reviewer approved and the refund went out, 4 when it
was denied, expired or nobody decided in time, 1 on any error from Gavel.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from typing import Any

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from gavel_client import DEFAULT_URL, GavelClient, GavelError  # noqa: E402

AGENT_ID = "customer-support"
EXIT_REFUSED = 4


class Agent:
    """Runs the session's steps, each one checked with Gavel first."""

    def __init__(self, gavel: GavelClient, wait: float):
        self.gavel = gavel
        self.wait = wait
        self.session = secrets.token_hex(4)
        self.step = 0

    def ask(self, action: str, params: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        """Ask Gavel about one action and print one line: action, verdict, reasons."""
        self.step += 1
        request: dict[str, Any] = {
            "request_id": f"agent-demo-{self.step}-{secrets.token_hex(4)}",
            "agent_id": AGENT_ID,
            "action": action,
            "session_id": f"agent-demo-{self.session}",
            "user_id": "customer-8812",
            **fields,
        }
        if params:
            request["params"] = params
        decision = self.gavel.evaluate(request)
        print(f"[{self.step}] {describe(action, fields):<32} {decision['verdict']:<9} {reason_codes(decision)}")
        return decision

    def run(self) -> int:
        """Play the session; return the exit code."""
        self.ask("lookup_order", {"order_id": "A-1042"})
        self.ask(
            "send_email",
            {
                "to": "customer@gmail.com",
                "subject": "Your order A-1042",
                "body": "Hi! We charged your card 4111 1111 1111 1111 for order A-1042.",
            },
        )
        self.ask("delete_account", {"customer_id": "customer-8812"})
        self.ask("issue_refund", {"order_id": "A-1042"}, amount=650, currency="USD")
        decision = self.ask("issue_refund", {"order_id": "A-1042"}, amount=150, currency="USD")
        return self.settle_refund(decision, "150 USD")

    def settle_refund(self, decision: dict[str, Any], what: str) -> int:
        """Issue the refund if Gavel (or, on escalation, a reviewer) allows it."""
        verdict = decision["verdict"]
        if verdict == "approve":
            return self.issue_refund(what)
        if verdict == "deny":
            print(f"    refund of {what} denied; not issuing it")
            return EXIT_REFUSED
        escalation = decision.get("escalation") or {}
        escalation_id = escalation.get("id")
        if not escalation_id:
            print(f"    refund of {what} escalated, but no escalation was opened; not issuing it")
            return EXIT_REFUSED
        print(f"    escalation {escalation_id}: waiting for a reviewer (up to {self.wait:g} s)")
        state = self.gavel.wait_for_escalation(escalation_id, timeout=self.wait)
        status = state.get("status")
        resolution = state.get("resolution") or {}
        by = f" by {resolution['reviewer']}" if resolution.get("reviewer") else ""
        if resolution.get("comment"):
            by += f" ({resolution['comment']})"
        if status == "approved":
            print(f"    approved{by}")
            return self.issue_refund(what)
        if status == "denied":
            print(f"    denied{by}; not issuing the refund")
        elif status == "expired":
            print("    expired without a decision (counts as deny); not issuing the refund")
        else:
            print(f"    no reviewer decided within {self.wait:g} s; not issuing the refund")
        return EXIT_REFUSED

    @staticmethod
    def issue_refund(what: str) -> int:
        print(f"    proceeding: issuing the refund of {what} for order A-1042")
        return 0


def describe(action: str, fields: dict[str, Any]) -> str:
    """``issue_refund 150 USD``: the action, with its amount if any."""
    if "amount" in fields:
        return f"{action} {fields['amount']:g} {fields.get('currency', '')}".rstrip()
    return action


def reason_codes(decision: dict[str, Any]) -> str:
    """The decision's reasons as ``policy:code`` items, or ``-`` for none."""
    reasons = decision.get("reasons") or []
    return ", ".join(f"{r.get('policy')}:{r.get('code')}" for r in reasons) or "-"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--url",
        default=os.environ.get("GAVEL_URL", DEFAULT_URL),
        help="Gavel's address (default: $GAVEL_URL, else %(default)s)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("GAVEL_TOKEN"),
        help="the evaluation token (default: $GAVEL_TOKEN; none if unset)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="how long to wait for a reviewer on an escalation (default: %(default)g)",
    )
    args = parser.parse_args(argv)
    if not args.wait >= 0:
        parser.error("--wait must be a number of seconds >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    gavel = GavelClient(args.url, token=args.token or None)
    print(f"customer-support agent, checking every action with Gavel at {gavel.base_url}")
    try:
        return Agent(gavel, args.wait).run()
    except GavelError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
