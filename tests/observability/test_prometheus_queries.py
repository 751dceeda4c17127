"""A real Prometheus (1 s scrapes, loopback, temporary storage) scrapes a
squant-server under traffic; every PromQL expression of the Grafana dashboard
and of alerts.yml then goes through Prometheus's HTTP API. Each must parse,
and each dashboard expression must return data, as a Grafana panel would."""

import json
import math
import os
import re
import threading
import time

import grpc
import pytest

from observability_harness import Prometheus, Traffic, cli_quantize, env_path, wait_for, write_safetensors

JOB = "squant"
# Prometheus's first scrape comes after about 5 s; rate() over [1m] needs two
# samples and histogram_quantile() a bucket that grew, so allow a while.
DATA_TIMEOUT_SECONDS = 60
MODEL_LAYERS = [("obs-layer.a.weight", [8, 4, 3, 3], 2), ("obs-layer.b.weight", [16, 40], 4),
                ("obs-layer.c.weight", [6, 3, 5], 8)]


@pytest.fixture(scope="module")
def prometheus(server, tmp_path_factory):
    running = Prometheus(f"127.0.0.1:{server.metrics_port}", [env_path("SQUANT_ALERTS")],
                         str(tmp_path_factory.mktemp("prometheus")), job=JOB)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def traffic(server, stubs, tmp_path_factory):
    """Keeps every RPC, an error, and so every panel's series, moving while
    the tests poll: histogram quantiles need buckets that grow between two
    scrapes. squant-cli, when built, quantizes a model file each round."""
    cli_dir = tmp_path_factory.mktemp("cli")
    write_safetensors(cli_dir / "in.safetensors", {name: shape for name, shape, _ in MODEL_LAYERS})
    client = Traffic(*stubs, server.address)
    stop = threading.Event()
    failures = []

    def drive():
        requests = client.model_requests(MODEL_LAYERS)
        for _ in range(1000):  # bounded in count; the tests stop it much sooner
            if stop.is_set():
                return
            try:
                if os.environ.get("SQUANT_CLI"):
                    cli_quantize(server.address, cli_dir / "in.safetensors", cli_dir / "out.safetensors")
                client.quantize_model(requests)
                client.quantize_layer("obs-layer.unary.weight", [4, 6])
                client.expect_error(lambda: client.quantize_layer("obs-layer.short", [4, 4], data=b"\0" * 12),
                                    grpc.StatusCode.INVALID_ARGUMENT)
                client.capabilities()
            except Exception as error:  # reported by the tests, not lost in a thread
                failures.append(error)
                return
            stop.wait(0.3)

    thread = threading.Thread(target=drive, daemon=True)
    thread.start()
    yield failures
    stop.set()
    thread.join(timeout=30)
    client.close()


def dashboard():
    with open(env_path("SQUANT_DASHBOARD")) as source:
        return json.load(source)


def panels(container):
    for panel in container.get("panels", []):
        yield panel
        yield from panels(panel)  # rows hold their panels when collapsed


def substitute(text, server):
    """What Grafana sends for one selected job and instance."""
    values = {"$__rate_interval": "1m", "$job": JOB, "$instance": f"127.0.0.1:{server.metrics_port}"}
    for variable, value in values.items():
        text = text.replace(variable, value)
    assert "$" not in text, f"unsubstituted template variable in {text}"
    return text


def dashboard_queries(server):
    queries = []
    for panel in panels(dashboard()):
        for target in panel.get("targets", []):
            queries.append((f"{panel['title']} / {target['refId']}", substitute(target["expr"], server)))
    return queries


def finite_values(result):
    return [float(sample["value"][1]) for sample in result["data"]["result"]
            if math.isfinite(float(sample["value"][1]))]


def test_every_dashboard_expression_parses_and_returns_data(server, prometheus, traffic):
    queries = dashboard_queries(server)
    assert len(queries) >= 20
    pending = dict(queries)
    started = time.monotonic()

    def all_have_data():
        assert not traffic, f"traffic failed: {traffic}"
        for title, expr in list(pending.items()):
            result = prometheus.query(expr)
            assert result["status"] == "success", f"{title}: {expr}\n{result.get('error')}"
            if finite_values(result):
                del pending[title]
        return not pending

    try:
        wait_for(all_have_data, DATA_TIMEOUT_SECONDS, interval=1.0, what="data for every dashboard query")
    except AssertionError as error:
        raise AssertionError(f"{error}; still empty or NaN:\n" +
                             "\n".join(f"  {t}: {e}" for t, e in pending.items())) from None
    print(f"{len(queries)} dashboard queries returned data after {time.monotonic() - started:.1f} s")


def test_template_variables_list_the_target(server, prometheus, traffic):
    """The job and instance variables' label_values() queries, as Grafana
    runs them (the label values API with a series selector)."""
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    expected = {"job": JOB, "instance": f"127.0.0.1:{server.metrics_port}"}
    for name, value in expected.items():
        match = re.fullmatch(r"label_values\((.+), *(\w+)\)", variables[name]["query"])
        assert match and match.group(2) == name, variables[name]["query"]
        selector = substitute(match.group(1), server)

        def lists_target():
            result = prometheus.api(f"label/{name}/values", **{"match[]": selector})
            assert result["status"] == "success", result
            return value in result["data"]

        wait_for(lists_target, DATA_TIMEOUT_SECONDS, interval=1.0, what=f"${name} to list {value}")


def test_every_alert_expression_parses_and_evaluates(server, prometheus, traffic):
    with open(env_path("SQUANT_ALERTS")) as source:
        alert_names = re.findall(r"^\s*- alert:\s*(\S+)", source.read(), re.MULTILINE)
    assert len(alert_names) >= 4

    def evaluated_rules():
        groups = prometheus.api("rules", type="alert")["data"]["groups"]
        rules = {rule["name"]: rule for group in groups for rule in group["rules"]}
        if all(rules.get(name, {}).get("health") == "ok" for name in alert_names):
            return rules
        return None

    rules = wait_for(evaluated_rules, 30, interval=0.5, what="Prometheus to load and evaluate every alert rule")
    assert sorted(rules) == sorted(alert_names)
    for name in alert_names:
        result = prometheus.query(rules[name]["query"])
        assert result["status"] == "success", f"{name}: {result.get('error')}"

    # The target is up, so the availability alerts' expressions are empty:
    # their job selector matches the scrape job.
    wait_for(lambda: prometheus.query('up{job=~"squant.*"} == 1')["data"]["result"], DATA_TIMEOUT_SECONDS,
             what="the squant target to be up")
    for name in ("SquantTargetDown", "SquantNoTargetsUp"):
        assert prometheus.query(rules[name]["query"])["data"]["result"] == [], name


def test_bad_input_makes_the_non_ok_alert_pend_and_not_the_server_error_one(prometheus, traffic):
    """Half the traffic's QuantizeLayer calls are InvalidArgument: over the
    non-OK threshold (pending, as its `for` has not elapsed), while no
    server-side error or availability alert is active."""
    non_ok = ("SquantHighNonOkRatio", "QuantizeLayer", JOB, "pending")

    def active_once_non_ok_pends():
        active = [(a["labels"]["alertname"], a["labels"].get("grpc_method"), a["labels"].get("job"), a["state"])
                  for a in prometheus.api("alerts")["data"]["alerts"]]
        return active if non_ok in active else None

    active = wait_for(active_once_non_ok_pends, DATA_TIMEOUT_SECONDS, interval=1.0,
                      what="SquantHighNonOkRatio to be pending for QuantizeLayer")
    # Workers may look saturated for a scrape or two (tiny windows): ignored.
    unexpected = [a for a in active if a != non_ok and a[0] != "SquantWorkersSaturated"]
    assert unexpected == [], unexpected
