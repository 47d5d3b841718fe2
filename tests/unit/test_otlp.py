"""Spans leave a process only when an OTLP endpoint is configured, and only with the [otlp] extra."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from dancu_bus.cli import traces
from dancu_bus.errors import ConfigError
from dancu_bus.settings import TracingSettings


def test_unconfigured_nothing_is_set_up() -> None:
    """No endpoint in the settings or OpenTelemetry's variables: no provider, the API stays the no-op."""
    with traces.exporting_spans(TracingSettings(), "dancu-bus-resolver", environ={}) as provider:
        assert provider is None
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)


@pytest.mark.parametrize(
    ("settings", "environ"),
    [
        (TracingSettings(otlp_endpoint="http://127.0.0.1:4318"), {}),
        (TracingSettings(), {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}),
        (TracingSettings(), {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}),
    ],
    ids=["setting", "otel-endpoint", "otel-traces-endpoint"],
)
def test_configured_the_sdk_is_the_processs_provider_until_the_end(
    settings: TracingSettings, environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Either configuration sets an SDK provider named after the service, shut down on leaving."""
    set_up: list[object] = []
    # The real one may set a provider once per process: the tests after this one would record spans.
    monkeypatch.setattr(trace, "set_tracer_provider", set_up.append)
    shut_down: list[bool] = []

    def shut(real: Callable[[], None]) -> None:
        shut_down.append(True)
        real()

    with traces.exporting_spans(settings, "dancu-bus-resolver", environ=environ) as provider:
        assert isinstance(provider, TracerProvider) and set_up == [provider]
        assert provider.resource.attributes["service.name"] == "dancu-bus-resolver"
        monkeypatch.setattr(provider, "shutdown", functools.partial(shut, provider.shutdown))
    assert shut_down == [True]


def test_without_the_extra_a_configured_endpoint_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """The OpenTelemetry SDK missing: one line that names the extra to install, not a traceback."""
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    with pytest.raises(ConfigError, match=r"pip install 'dancu-bus\[otlp\]'"):
        traces.otlp_provider("http://127.0.0.1:4318", "dancu-bus-resolver")
