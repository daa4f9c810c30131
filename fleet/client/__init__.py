"""Talking to obshell agents over HTTP. The only package that imports aiohttp's client."""

from fleet.client.agent import AgentClient
from fleet.client.http import HttpClient, RawResponse

__all__ = ["AgentClient", "HttpClient", "RawResponse"]
