"""An agent on the MCP SDK's own client: search, refused before approval, request, approved, query."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from mcp import Client

from meshplane.agents import build_server
from meshplane.workspace import Mesh
from server.helpers import copy_media

EVENTS = "podcasts.listening_events.listening_events"
QUERY = f"SELECT country_code, listener_email FROM {EVENTS} ORDER BY event_id LIMIT 20"


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    root: Path = copy_media(tmp_path_factory.mktemp("mcp"), scale=0.02)
    with Mesh.open(root) as mesh:
        yield mesh
        mesh.access.close()


def _json(result: object) -> object:
    content = result.content  # type: ignore[attr-defined]
    return json.loads(content[0].text) if content else None


def test_agent_searches_requests_is_approved_and_queries(media: Mesh) -> None:
    user = "raj"  # royalties analyst: no grant on the restricted listening events
    server = build_server(media, lambda: user)

    async def story() -> None:
        async with Client(server) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            assert {"search_products", "describe_product", "list_my_grants", "request_access",
                    "run_query"} <= tools  # fmt: skip

            found = await client.call_tool("search_products", {"text": "listening events"})
            assert not found.is_error
            assert any(EVENTS.startswith(str(hit["address"])) or hit["address"] == EVENTS
                       for hit in found.structured_content["result"])  # fmt: skip

            refused = await client.call_tool("run_query", {"sql": QUERY})
            assert refused.is_error and "meshplane access request" in refused.content[0].text

            described = await client.call_tool("describe_product", {"address": "podcasts.listening_events"})
            port = described.structured_content["ports"][0]
            assert port["sample_rows"] == [] and "restricted" in port["sample_refused"]
            assert port["contract"]["id"] == EVENTS

            requested = await client.call_tool("request_access", {"port": EVENTS, "purpose": "UK royalty statements"})
            assert not requested.is_error
            request_id = requested.structured_content["id"]
            assert (await client.call_tool("run_query", {"sql": QUERY})).is_error  # still pending

            media.access.approve("amelie", request_id, "country_code = 'GB'")  # the owner decides, not the agent

            grants = await client.call_tool("list_my_grants", {})
            assert [g["port"] for g in grants.structured_content["result"]] == [EVENTS]
            answered = await client.call_tool("run_query", {"sql": QUERY, "max_rows": 5})
            assert not answered.is_error, answered.content
            body = answered.structured_content
            expected = media.access.query(user, QUERY).table.to_pylist()
            assert body["rows"] == expected[:5] and body["truncated"] is True
            assert {row["country_code"] for row in body["rows"]} == {"GB"}

            contract = await client.read_resource(f"meshplane://contracts/{EVENTS}")
            assert json.loads(contract.contents[0].text)["id"] == EVENTS
            glossary = await client.read_resource("meshplane://glossary")
            assert json.loads(glossary.contents[0].text)

    anyio.run(story)
    logged = media.access.query_log(username=user, limit=20)
    assert {entry.decision.value for entry in logged} >= {"allowed", "denied"}


def test_meshplane_mcp_on_stdio(media: Mesh) -> None:
    import os
    import sys

    from mcp import StdioServerParameters

    params = StdioServerParameters(
        command=sys.executable,
        args=["-c", "from meshplane.cli.app import main; main()", "mcp", "--mesh", str(media.root), "--as", "kofi"],
        env={**os.environ},
    )

    async def session() -> None:
        async with Client(params) as client:
            found = await client.call_tool("search_products", {"text": "payout"})
            assert not found.is_error and found.structured_content["result"]
            refused = await client.call_tool("run_query", {"sql": f"SELECT * FROM {EVENTS}"})
            assert refused.is_error and "kofi has no active grant" in refused.content[0].text

    anyio.run(session)


def test_streamable_http_under_serve(media: Mesh) -> None:
    import httpx
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    from server.helpers import start_server

    token, _ = media.platform.catalog.writer.create_token("kofi", name="mcp over http")
    process, base = start_server(media.root, dev=False)
    try:
        assert httpx.post(f"{base}/mcp/", json={}, timeout=30).status_code == 401  # no token, no agent
        headers = {"Authorization": f"Bearer {token}"}

        async def session() -> None:
            async with (
                httpx2.AsyncClient(headers=headers, timeout=60) as http,
                Client(streamable_http_client(f"{base}/mcp/", http_client=http)) as client,
            ):
                found = await client.call_tool("search_products", {"text": "payout"})
                assert not found.is_error and found.structured_content["result"]
                refused = await client.call_tool("run_query", {"sql": f"SELECT * FROM {EVENTS}"})
                assert refused.is_error and "kofi has no active grant" in refused.content[0].text

        anyio.run(session)
    finally:
        process.terminate()
        process.wait(timeout=30)
