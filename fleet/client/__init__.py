"""Talking to obshell agents over HTTP. The only package that imports an HTTP client library."""

from fleet.client.agent import AgentClient
from fleet.client.http import HttpClient, RawResponse

__all__ = ["AgentClient", "HttpClient", "RawResponse"]
