"""An MCP server for the gateway's tests and benchmark, on the official
Python MCP SDK. It records every tool call it receives (one JSON line per
call in the --record file), so a test can show which calls never arrived.

    python3 shop_server.py --record calls.jsonl            # stdio
    python3 shop_server.py --record calls.jsonl --http 9000  # streamable HTTP

Settings come as arguments: an MCP client starts stdio servers with a
filtered environment.
"""

import argparse
import json
import os
import time

from mcp.server import MCPServer

parser = argparse.ArgumentParser()
parser.add_argument("--record", required=True, help="append each call here (JSON Lines)")
parser.add_argument("--http", type=int, help="serve streamable HTTP on this port")
parser.add_argument(
    "--email-description-file",
    help="read send_email's description from this file at start",
)
args = parser.parse_args()

email_description = "Send an email."
if args.email_description_file and os.path.exists(args.email_description_file):
    with open(args.email_description_file, encoding="utf-8") as f:
        email_description = f.read().strip()

mcp = MCPServer("shop")


def record(tool, arguments):
    with open(args.record, "a", encoding="utf-8") as f:
        f.write(json.dumps({"tool": tool, "arguments": arguments, "pid": os.getpid()}) + "\n")


@mcp.tool()
def lookup_order(order_id: str) -> str:
    """Look up an order."""
    record("lookup_order", {"order_id": order_id})
    return f"order {order_id}: shipped to Jane Doe, jane.doe@example.com"


@mcp.tool()
def issue_refund(amount: float, currency: str, order_id: str = "") -> str:
    """Refund a customer."""
    record("issue_refund", {"amount": amount, "currency": currency, "order_id": order_id})
    return f"refunded {amount} {currency}"


@mcp.tool()
def delete_account(user: str) -> str:
    """Delete a user's account."""
    record("delete_account", {"user": user})
    return f"deleted {user}"


@mcp.tool(description=email_description)
def send_email(to: str, body: str) -> str:
    record("send_email", {"to": to, "body": body})
    return f"sent to {to}"


@mcp.tool()
def echo(text: str) -> str:
    """Return the text (the benchmark's trivial tool)."""
    return text


@mcp.tool()
def crash() -> str:
    """Exit the server process at once."""
    record("crash", {})
    os._exit(3)


@mcp.tool()
def hang(seconds: float = 3600) -> str:
    """Answer after a long time."""
    record("hang", {"seconds": seconds})
    time.sleep(seconds)
    return "woke up"


@mcp.tool()
def garbage() -> str:
    """Write a line that is not JSON-RPC where the answer should be, then hang."""
    record("garbage", {})
    os.write(1, b"this is not json-rpc\n")
    time.sleep(3600)
    return "never"


@mcp.tool()
def fail() -> str:
    """Fail (an error result)."""
    record("fail", {})
    raise ValueError("the shop is closed")


@mcp.resource("shop://policies/refunds")
def refund_policy() -> str:
    """The shop's refund policy."""
    return "Refunds within 30 days."


@mcp.prompt()
def apology(customer: str) -> str:
    """An apology to a customer."""
    return f"Dear {customer}, we are sorry."


if args.http:
    mcp.run(transport="streamable-http", host="127.0.0.1", port=args.http)
else:
    mcp.run(transport="stdio")
