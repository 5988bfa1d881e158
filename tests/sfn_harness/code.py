"""What the Lambda steps' code does, read from its source (ast): the functions a handler may reach, and what
they raise, read from the environment and call on AWS. Used by the contract and IAM tests.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import botocore.session
from botocore import xform_name

from customization import contract

REPO = Path(__file__).resolve().parents[2]
# What each function's code asset holds (constructs/workflow_steps.py: steps_code, EVALUATION_ROOT).
ASSETS = {
    "customization_steps": [
        REPO / "lambda" / "customization_steps" / "customization_steps",
        REPO / "customization",
        REPO / "lambda" / "eks_access" / "eks_access",
    ],
    "model_evaluation": [REPO / "lambda" / "model_evaluation" / "model_evaluation"],
}
# The names the code gives its boto3 clients (parameters and keyword arguments), per asset.
CLIENT_NAMES = {
    "customization_steps": {
        **{name: name for name in ("s3", "dynamodb", "sagemaker", "bedrock", "eks", "sts")},
        "eks_client": "eks",
        "sts_client": "sts",
    },
    "model_evaluation": {"s3": "s3", "bedrock": "bedrock-runtime", "client": "bedrock-runtime"},
}
SESSION = botocore.session.get_session()


@dataclass
class Code:
    """One asset's Python code: its functions by name, what each calls, raises and reads from the environment."""

    functions: dict[str, list[ast.FunctionDef]] = field(default_factory=dict)
    module_level: list[ast.stmt] = field(default_factory=list)
    clients: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, folders: Iterable[Path]) -> Code:
        code = cls()
        for folder in folders:
            for path in sorted(folder.rglob("*.py")):
                tree = ast.parse(path.read_text(encoding="utf-8"))
                for node in ast.walk(tree):
                    if isinstance(node, ast.FunctionDef):
                        code.functions.setdefault(node.name, []).append(node)
                    elif _is_client_call(node):
                        code.clients.add(str(node.args[0].value))  # type: ignore[attr-defined]
                code.module_level += [s for s in tree.body if not isinstance(s, ast.FunctionDef | ast.ClassDef)]
        return code

    def reachable(self, entry: str) -> list[ast.AST]:
        """The functions ``entry`` may call, by name (over-approximated), plus module-level code."""
        seen, queue = {entry}, [entry]
        while queue:
            for function in self.functions.get(queue.pop(), []):
                decorators = [d.id for d in function.decorator_list if isinstance(d, ast.Name)]
                for name in decorators:
                    if name in self.functions and name not in seen:
                        seen.add(name)
                        queue.append(name)
                for node in ast.walk(function):
                    name = _called_name(node) if isinstance(node, ast.Call) else None
                    if name in self.functions and name not in seen:
                        seen.add(name)
                        queue.append(name)
        return [f for name in seen for f in self.functions.get(name, [])] + list(self.module_level)

    def raised(self, entry: str) -> set[str]:
        return {
            name
            for root in self.reachable(entry)
            for node in ast.walk(root)
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
            for name in [_called_name(node.exc)]
            if name
        }

    def environment_reads(self, roots: Iterable[ast.AST]) -> tuple[set[str], list[str]]:
        """(``Env`` names read, keys written as literals): ``environ[k]``, ``environ.get(k)``, ``k in environ``,
        ``os.getenv(k)``, where the mapping is ``os.environ`` or a name ``env``/``environ``."""
        keys: list[ast.AST] = []
        for root in roots:
            for node in ast.walk(root):
                if isinstance(node, ast.Subscript) and _is_environment(node.value):
                    keys.append(node.slice)
                elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
                    if (node.func.attr == "get" and _is_environment(node.func.value)) or node.func.attr == "getenv":
                        keys.append(node.args[0])
                elif (
                    isinstance(node, ast.Compare)
                    and isinstance(node.ops[0], ast.In)
                    and _is_environment(node.comparators[0])
                ):
                    keys.append(node.left)
        names, literals = set(), []
        for key in keys:
            if isinstance(key, ast.Attribute) and isinstance(key.value, ast.Name) and key.value.id == "Env":
                names.add(getattr(contract.Env, key.attr))
            else:
                literals.append(ast.unparse(key))
        return names, literals


def _called_name(node: ast.AST) -> str | None:
    func = node.func if isinstance(node, ast.Call) else None
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _is_client_call(node: ast.AST) -> bool:
    """``client("s3")``: how both assets make their boto3 clients."""
    return (
        isinstance(node, ast.Call)
        and _called_name(node) == "client"
        and bool(node.args)
        and isinstance(node.args[0], ast.Constant)
    )


def _is_environment(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id in {"env", "environ"}
    )


def operations(service: str) -> dict[str, str]:
    """boto3 method name -> API operation name."""
    return {xform_name(name): name for name in SESSION.get_service_model(service).operation_names}


def aws_calls(package: str, roots: Iterable[ast.AST]) -> set[tuple[str, str]]:
    """(service, operation) of every ``<client>.<method>(...)`` in ``roots``, by the client's variable name."""
    found = set()
    for root in roots:
        for node in ast.walk(root):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value
            if isinstance(owner, ast.Name) and owner.id in CLIENT_NAMES[package]:
                service = CLIENT_NAMES[package][owner.id]
                operation = operations(service).get(node.func.attr)
                if operation is not None:
                    found.add((service, operation))
    return found


CODE = {name: Code.of(folders) for name, folders in ASSETS.items()}
