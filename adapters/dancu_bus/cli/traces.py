"""The services' spans, exported over OTLP/HTTP only when an endpoint is configured.

Unconfigured, OpenTelemetry's API stays the no-op it is by default: the resolver's spans cost a call
that records nothing, and nothing leaves the process. Configured (``DANCU_TRACING__OTLP_ENDPOINT``, or
OpenTelemetry's own ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``), the
OpenTelemetry SDK of the ``dancu-bus[otlp]`` extra becomes the process's tracer provider; its other
``OTEL_*`` variables (sampler, headers, timeouts) apply as usual.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import trace

from dancu_bus import __version__
from dancu_bus.errors import ConfigError
from dancu_bus.settings import TracingSettings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

__all__ = ["exporting_spans", "otlp_provider"]

_STANDARD_ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


@contextmanager
def exporting_spans(
    settings: TracingSettings, service: str, environ: Mapping[str, str] = os.environ
) -> Iterator[TracerProvider | None]:
    """While inside, this process's spans go to the configured OTLP endpoint; without one, nowhere.

    Leaving exports what is left (``shutdown``). Yields the provider set, or None when unconfigured.
    """
    if settings.otlp_endpoint is None and not any(environ.get(name) for name in _STANDARD_ENDPOINTS):
        yield None
        return
    provider = otlp_provider(settings.otlp_endpoint, environ.get("OTEL_SERVICE_NAME") or service)
    trace.set_tracer_provider(provider)
    try:
        yield provider
    finally:
        provider.shutdown()


def otlp_provider(endpoint: str | None, service: str) -> TracerProvider:
    """A tracer provider batching spans to ``endpoint``/v1/traces (default: the ``OTEL_*`` variables').

    ConfigError, naming the extra to install, when the OpenTelemetry SDK is not installed.
    """
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise ConfigError(
            f"spans are to be exported over OTLP, but the OpenTelemetry SDK is missing ({exc.name}):"
            " pip install 'dancu-bus[otlp]', or unset DANCU_TRACING__OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_*"
        ) from exc
    url = f"{endpoint.rstrip('/')}/v1/traces" if endpoint is not None else None
    resource = Resource.create({"service.name": service, "service.version": __version__})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
    return provider
