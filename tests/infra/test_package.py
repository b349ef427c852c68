"""The function's asset holds what the functions run, and none of the operators' tooling."""

from __future__ import annotations

import ast
from pathlib import Path

from infra.constants import BACKFILL_HANDLER, CHECK_HANDLER, CODE_PACKAGE, CONFIG_FILE_IN_PACKAGE, HANDLER
from infra.package import stage_package
from tests.support import EXAMPLE_CONFIG

# Data the function's modules read from beside them (governance.py: the policies catalogue).
PACKAGE_DATA = {"kinesis_export/policies.json"}
TOOLING = {"__main__.py", "local.py", "operations.py"}


def staged_files(tmp_path: Path) -> set[str]:
    staged = stage_package(EXAMPLE_CONFIG, tmp_path / "asset")
    return {path.relative_to(staged).as_posix() for path in staged.rglob("*") if path.is_file()}


def imported_modules(source: Path, module: str) -> set[str]:
    """The modules (and names) a module imports, anywhere in it (lazy imports too), relative ones made absolute."""
    names: set[str] = set()
    package = module.rpartition(".")[0] if source.name != "__init__.py" else module
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from . import x` names a module
    return names


def closure_of_handlers(root: Path) -> set[str]:
    """The files of every kinesis_export module the three handlers import, transitively, with their packages."""
    to_visit = [handler.rpartition(".")[0] for handler in (HANDLER, CHECK_HANDLER, BACKFILL_HANDLER)]
    files: set[str] = set()
    while to_visit:
        module = to_visit.pop()
        path = root / Path(*module.split("."))
        source = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        if not source.is_file():
            continue  # a name imported from a module, not a module
        relative = source.relative_to(root).as_posix()
        if relative in files:
            continue
        files.add(relative)
        parents = module.split(".")[:-1]
        to_visit += [".".join(parents[: n + 1]) for n in range(len(parents))]
        to_visit += [name for name in imported_modules(source, module) if name.split(".")[0] == CODE_PACKAGE]
    return files


def test_the_asset_holds_exactly_the_modules_the_handlers_import_and_the_config(tmp_path):
    # given the package staged as synthesis stages it
    files = staged_files(tmp_path)

    # then it is the handlers' modules and what they import, their data and the config: nothing else
    expected = closure_of_handlers(tmp_path / "asset") | PACKAGE_DATA | {CONFIG_FILE_IN_PACKAGE}
    assert sorted(files) == sorted(expected)


def test_no_operator_tooling_is_in_the_asset(tmp_path):
    files = staged_files(tmp_path)

    assert not {name for name in files if name.rpartition("/")[2] in TOOLING}
    for name in sorted(files):
        if name.endswith(".py"):
            module = name.removesuffix(".py").replace("/", ".")
            tops = {imported.split(".")[0] for imported in imported_modules(tmp_path / "asset" / name, module)}
            assert not tops & {"kinesis_export_cli", "moto", "argparse"}, name
