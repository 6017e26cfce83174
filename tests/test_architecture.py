"""The architecture contracts (import-linter, declared in pyproject.toml) hold."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")

    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_there_are_no_import_cycles_counting_imports_inside_functions():
    tool = ROOT.parent / "shared" / "tools" / "import_cycles.py"
    assert tool.exists(), f"{tool} is the independent checker the project is judged by"

    result = subprocess.run([sys.executable, str(tool), "."], cwd=ROOT, capture_output=True, text=True, timeout=300)

    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 modules in import cycles" in result.stdout


def _contracts():
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def _modules(package: str) -> list[str]:
    names = []
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_every_module_sits_in_a_layer():
    config = _contracts()
    layers = next(c for c in config["contracts"] if c["type"] == "layers")["layers"]
    declared = [m.strip() for layer in layers for m in layer.replace("|", ":").split(":")]
    roots = set(config["root_packages"])

    unplaced = [m for package in roots for m in _modules(package)
                if m not in roots and not any(m == d or m.startswith(d + ".") for d in declared)]

    assert unplaced == [], f"Modules in no layer of pyproject.toml's layers contract: {unplaced}"


# What import-linter cannot say (it forbids only top-level external packages): below the edge,
# nothing answers HTTP.
HTTP_MODULES = ("django.http", "django.shortcuts", "django.views")  # customer messages are rendered with django.template


def test_nothing_below_the_edge_answers_http_or_renders():
    import ast

    below = next(c for c in _contracts()["contracts"] if c["name"].startswith("No presentation"))["source_modules"]
    offenders = []
    for prefix in below:
        base = ROOT / prefix.replace(".", "/")
        files = sorted(base.rglob("*.py")) if base.is_dir() else [base.with_suffix(".py")]
        for path in files:
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.startswith(HTTP_MODULES)]

    assert offenders == [], offenders


def test_every_port_starts_a_registered_task():
    from infra import jobs
    from dispatch.ports import PORTS

    assert PORTS
    for port in PORTS:
        assert jobs.task(port.task).name == port.task


def test_below_the_engine_follow_up_work_is_started_through_a_declared_port():
    """The domain and the carrier integration name no task: a bare name reaches the layers above
    unseen (go-to-definition stops at a string, and the linter cannot see it)."""
    import ast

    offenders = []
    for package in ("dispatch/services", "dispatch/models", "dispatch/selectors", "dispatch/configuration", "carriers", "integrations"):
        base = ROOT / package
        for path in sorted(base.rglob("*.py")) if base.is_dir() else [base]:
            if path.name == "tasks.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr in ("enqueue", "delay", "apply_async", "send_task", "task")):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")

    assert offenders == [], offenders


def test_every_fact_the_domain_records_has_exactly_one_subscriber():
    """A lower layer tells a higher one through a typed fact (infra.facts): each declared fact type
    has its one reaction, subscribed by the layer that owns it, so none is recorded into nothing."""
    import dispatch.facts  # noqa: F401  (declares them)
    from infra import facts

    declared = facts.declared()

    assert declared, "dispatch.facts declares the domain's facts"
    missing = [f.__name__ for f in declared if facts.subscriber_of(f) is None]
    assert missing == [], f"Facts nothing subscribes to: {missing}"


def test_a_fact_refuses_a_second_subscriber():
    from dispatch.facts import BookingReleased
    from infra import facts

    current = facts.subscriber_of(BookingReleased)
    facts.subscribe(BookingReleased, current)  # the same handler again changes nothing

    try:
        facts.subscribe(BookingReleased, lambda fact: None)
    except RuntimeError as exc:
        assert "already has its subscriber" in str(exc)
    else:
        raise AssertionError("a second subscriber was accepted")
    assert facts.subscriber_of(BookingReleased) is current


def test_a_task_is_started_one_way_after_commit():
    """Every task is started through infra.jobs (by a port, or a dead letter's recorded name): never
    .delay(), apply_async() or send_task() of its own, which would run before the commit."""
    import ast
    import tomllib

    roots = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["root_packages"]
    offenders = []
    for package in roots:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.relative_to(ROOT).as_posix() == "infra/jobs.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr in ("delay", "apply_async", "send_task")):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")

    assert offenders == [], offenders


@pytest.mark.django_db
def test_the_models_and_their_migrations_agree():
    """Moving code between modules changes no table: makemigrations finds nothing to write."""
    from django.core.management import call_command

    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
