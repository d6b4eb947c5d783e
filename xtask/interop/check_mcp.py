"""Interop check: the Python MCP SDK's stdio client against an MCP server command.

Usage: python check_mcp.py [--timeout SECONDS] -- COMMAND [ARGS...]

Launches COMMAND with the SDK's stdio client (`mcp.client.stdio.stdio_client` and
`ClientSession`), initializes, lists the tools, checks that `get_current_time` is among them,
calls it with `{"timezone": "UTC"}` and checks that the call succeeded. The server is expected to
be `mcp-server-time`, reached directly or through a bridge such as `exec-client mcp`.

Run by `cargo xtask interop`, which installs the SDK into a cache folder. Exits 0 on success and
1 with a message naming the failed step otherwise.
"""

import argparse
import asyncio
import sys

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

TOOL = "get_current_time"


class CheckFailed(Exception):
    pass


async def check(command: list[str]) -> str:
    params = StdioServerParameters(command=command[0], args=command[1:])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            listed = await session.list_tools()
            names = sorted(tool.name for tool in listed.tools)
            if TOOL not in names:
                raise CheckFailed(f"tools/list does not offer {TOOL}: {names}")
            result = await session.call_tool(TOOL, {"timezone": "UTC"})
            # `is_error` in SDK 2.x, `isError` in 1.x.
            if getattr(result, "is_error", None) or getattr(result, "isError", None):
                raise CheckFailed(f"{TOOL} returned an error: {result}")
            texts = [block.text for block in getattr(result, "content", []) if hasattr(block, "text")]
            if not any("UTC" in text for text in texts):
                raise CheckFailed(f"{TOOL} did not answer for UTC: {result}")
            return f"{len(names)} tools; {TOOL}(UTC) -> {' '.join(texts[0].split())}"


def leaf_errors(error: BaseException):
    """The errors inside (nested) exception groups, which the SDK's task groups raise."""
    inner = getattr(error, "exceptions", None)
    if inner is None:
        yield error
    else:
        for each in inner:
            yield from leaf_errors(each)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=60.0, help="bound on the whole check")
    parser.add_argument("command", nargs="+", help="the MCP server command, after --")
    arguments = parser.parse_args()
    try:
        summary = asyncio.run(asyncio.wait_for(check(arguments.command), arguments.timeout))
    except Exception as error:  # noqa: BLE001 - every failure is reported the same way
        for leaf in leaf_errors(error):
            if isinstance(leaf, asyncio.TimeoutError):
                message = f"no result within {arguments.timeout}s"
            elif isinstance(leaf, CheckFailed):
                message = str(leaf)
            else:
                message = f"{type(leaf).__name__}: {leaf}"
            print(f"interop: FAILED: {message}", file=sys.stderr)
        return 1
    print(f"interop: ok: {' '.join(arguments.command)}: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
