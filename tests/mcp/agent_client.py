"""An agent's MCP client for the gateway's tests, on the official Python
MCP SDK. It runs a list of steps (JSON, from --steps) and prints one JSON
line per step.

    python3 agent_client.py --steps steps.json --stdio gavel mcp-gateway ...
    python3 agent_client.py --steps steps.json --http http://127.0.0.1:7701/mcp --token T

A step is {"list": true}, {"resources": true}, {"read": URI},
{"prompts": true}, {"prompt": NAME, "arguments": {...}}, {"call": NAME, "arguments": {...},
"progress": true}, or {"wait_for": PATH} (print {"waiting": PATH}, then
wait until the file exists: the test's cue to go on). Its line is {"tools": [...]} or {"is_error": bool,
"text": str, "structured": ..., "progress": n}, or {"rpc_error": {code,
message, data}} when the call got a JSON-RPC error.
"""

import argparse
import asyncio
import json
import os

import httpx2
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

parser = argparse.ArgumentParser()
parser.add_argument("--steps", required=True)
parser.add_argument("--http")
parser.add_argument("--token")
parser.add_argument("--timeout", type=float, default=60)
parser.add_argument("--stdio", nargs=argparse.REMAINDER)
args = parser.parse_args()


def emit(line):
    print(json.dumps(line), flush=True)


async def run(session):
    await session.initialize()
    with open(args.steps, encoding="utf-8") as f:
        steps = json.load(f)
    for step in steps:
        if "wait_for" in step:
            emit({"waiting": step["wait_for"]})
            for _ in range(1200):
                if os.path.exists(step["wait_for"]):
                    break
                await asyncio.sleep(0.05)
            continue
        if step.get("resources"):
            listed = await session.list_resources()
            emit({"resources": sorted(str(r.uri) for r in listed.resources)})
            continue
        if "read" in step:
            read = await session.read_resource(step["read"])
            emit({"contents": [getattr(c, "text", None) for c in read.contents]})
            continue
        if step.get("prompts"):
            listed = await session.list_prompts()
            emit({"prompts": sorted(p.name for p in listed.prompts)})
            continue
        if "prompt" in step:
            got = await session.get_prompt(step["prompt"], step.get("arguments", {}))
            emit({"messages": [getattr(m.content, "text", None) for m in got.messages]})
            continue
        if step.get("list"):
            tools = await session.list_tools()
            emit({"tools": sorted(t.name for t in tools.tools)})
            continue
        seen = []

        async def on_progress(progress, total, message):
            seen.append(message)

        try:
            result = await session.call_tool(
                step["call"],
                step.get("arguments", {}),
                read_timeout_seconds=args.timeout,
                progress_callback=on_progress if step.get("progress") else None,
            )
        except MCPError as e:
            emit({"rpc_error": {"code": e.error.code, "message": e.error.message, "data": e.error.data}})
            continue
        text = "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")
        emit({
            "is_error": bool(result.is_error),
            "text": text,
            "structured": result.structured_content,
            "progress": len(seen),
        })


async def main():
    if args.http:
        headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
        async with httpx2.AsyncClient(headers=headers, timeout=args.timeout) as http:
            async with streamable_http_client(args.http, http_client=http) as streams:
                read, write = streams[0], streams[1]
                async with ClientSession(read, write) as session:
                    await run(session)
    else:
        command = args.stdio
        params = StdioServerParameters(command=command[0], args=command[1:])
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await run(session)


asyncio.run(main())
