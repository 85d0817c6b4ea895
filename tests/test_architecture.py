"""The import rules of STYLE.md, checked by parsing the source (nothing is imported).

1. ``lemur.crypto``, ``lemur.plugins`` and ``lemur.builtin`` import nothing from the domain
   packages (accounts, audit, keys, certificates, authorities, web, ui, cli, app,
   container, db, config, ...). They may import ``lemur.errors``, ``lemur.crypto`` and
   ``lemur.plugins``, and ``lemur.clock`` (the Clock protocol: time is injected into
   plugins too). Those allowed modules must in turn import nothing else from lemur, so
   nothing reaches the domain through them.
2. FastAPI's ``Depends`` appears only in files named ``api.py``.
3. No ambient state: no ``Settings()``, engine, session factory, container or application
   is built when a module is imported.
4. Domain packages depend one way: ``lemur.certificates`` may use ``lemur.authorities``
   (signing, URLs, CRL, OCSP), never the reverse; the certificate store reaches
   authorities through the protocol they define (lemur.authorities.inventory).
5. Services on the unit of work never commit or roll back: the unit of work does
   (lemur.db.unit_of_work), so no caller has to guess who ends a transaction.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
LEMUR = SRC / "lemur"

ISOLATED = ("lemur.crypto", "lemur.plugins", "lemur.builtin")
ALLOWED = ("lemur.errors", "lemur.crypto", "lemur.plugins", "lemur.clock")
LEAVES = ("lemur.errors", "lemur.clock")  # allowed modules that must import no other lemur module

# Calls that create ambient state when run at import time.
AMBIENT_CALLS = {
    "Settings",
    "create_engine",
    "make_engine",
    "sessionmaker",
    "build_container",
    "create_app",
    "FastAPI",
    "Database.connect",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> list[Path]:
    return sorted(LEMUR.rglob("*.py"))


def within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def imported_lemur_modules(
    tree: ast.AST, module: str, is_package: bool
) -> Iterator[tuple[int, str]]:
    """Every lemur module a source imports (at any depth: lazy imports in functions too)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if within(alias.name, ("lemur",)):
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if not is_package:
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not within(target, ("lemur",)):
                continue
            if target == "lemur":
                # "from lemur import accounts" imports lemur.accounts
                for alias in node.names:
                    yield node.lineno, f"lemur.{alias.name}"
            else:
                yield node.lineno, target


def import_violations(path: Path, source: str, allowed: tuple[str, ...]) -> list[str]:
    module = module_name(path) if path.is_relative_to(SRC) else path.stem
    tree = ast.parse(source, filename=str(path))
    return [
        f"{path}:{line}: {module} imports {target}"
        for line, target in imported_lemur_modules(tree, module, path.name == "__init__.py")
        if not within(target, allowed)
    ]


def depends_uses(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if (
            (isinstance(node, ast.Name) and node.id == "Depends")
            or (isinstance(node, ast.Attribute) and node.attr == "Depends")
            or (isinstance(node, ast.ImportFrom) and any(a.name == "Depends" for a in node.names))
        ):
            lines.append(node.lineno)
    return lines


def call_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        if isinstance(func.value, ast.Name):
            return f"{func.value.id}.{func.attr}"
        return func.attr
    return ""


def import_time_calls(tree: ast.Module) -> Iterator[ast.Call]:
    """Calls that run when the module is imported: the module and class bodies, decorators
    and default argument values; not function bodies."""
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            stack.extend(node.decorator_list)
            stack.extend(node.args.defaults)
            stack.extend(d for d in node.args.kw_defaults if d is not None)
            continue
        if isinstance(node, ast.Lambda):
            stack.extend(node.args.defaults)
            continue
        if isinstance(node, ast.Call):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def ambient_violations(path: Path, source: str) -> list[str]:
    tree = ast.parse(source, filename=str(path))
    found = []
    for call in import_time_calls(tree):
        name = call_name(call)
        if name in AMBIENT_CALLS or name.rsplit(".", 1)[-1] in AMBIENT_CALLS - {"Database.connect"}:
            found.append(f"{path}:{call.lineno}: {name}() runs at import time")
    return found


# -- the rules, applied to the source tree -----------------------------------------------


def test_sources_are_found() -> None:
    names = {module_name(p) for p in sources()}
    assert {"lemur.app", "lemur.crypto.keys", "lemur.web.api", "lemur.accounts.service"} <= names


def test_isolated_packages_import_nothing_from_the_domain() -> None:
    violations = []
    checked = 0
    for path in sources():
        name = module_name(path)
        if within(name, ISOLATED):
            checked += 1
            # A built-in plugin split into a package may import its own modules.
            parts = name.split(".")
            own = (".".join(parts[:3]),) if parts[:2] == ["lemur", "builtin"] else ()
            violations += import_violations(path, path.read_text(), ALLOWED + own)
    assert checked > 5
    assert not violations, "\n".join(violations)


def test_allowed_modules_are_leaves() -> None:
    violations = []
    for path in sources():
        if within(module_name(path), LEAVES):
            violations += import_violations(path, path.read_text(), ())
    assert not violations, "\n".join(violations)


def test_depends_only_in_api_modules() -> None:
    offenders = [
        f"{path}:{line}"
        for path in sources()
        if path.name != "api.py"
        for line in depends_uses(ast.parse(path.read_text()))
    ]
    assert not offenders, "fastapi.Depends outside api.py: " + ", ".join(offenders)


def test_no_ambient_state_at_import_time() -> None:
    violations = [v for path in sources() for v in ambient_violations(path, path.read_text())]
    assert not violations, "\n".join(violations)


# Domain packages and the packages they must never import.
# Authorities use no certificates code, directly or through renewal (whose policy applies
# the certificates' window rule); the renewal settings' values are their own module.
ONE_WAY = {"lemur.authorities": ("lemur.certificates", "lemur.renewal")}
ONE_WAY_ALLOWED = ("lemur.renewal.choices",)


def one_way_violations(path: Path, source: str) -> list[str]:
    module = module_name(path) if path.is_relative_to(SRC) else path.stem
    forbidden = next((f for pkg, f in ONE_WAY.items() if within(module, (pkg,))), ())
    tree = ast.parse(source, filename=str(path))
    return [
        f"{path}:{line}: {module} imports {target}"
        for line, target in imported_lemur_modules(tree, module, path.name == "__init__.py")
        if within(target, forbidden) and not within(target, ONE_WAY_ALLOWED)
    ]


def test_authorities_never_import_certificates() -> None:
    violations = []
    checked = 0
    for path in sources():
        if within(module_name(path), tuple(ONE_WAY)):
            checked += 1
            violations += one_way_violations(path, path.read_text())
    assert checked >= 5
    assert not violations, "\n".join(violations)


# Packages whose services run on the unit of work.
ON_UNIT_OF_WORK = (
    "lemur.certificates",
    "lemur.authorities",
    "lemur.services",
    "lemur.accounts.service",
    "lemur.accounts.tokens",
    "lemur.accounts.login",
)


def transaction_calls(tree: ast.AST) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("commit", "rollback")
    ]


def test_services_on_the_unit_of_work_never_commit_or_roll_back() -> None:
    offenders = [
        f"{path}:{line}"
        for path in sources()
        if within(module_name(path), ON_UNIT_OF_WORK)
        for line in transaction_calls(ast.parse(path.read_text()))
    ]
    assert not offenders, "commit/rollback outside the unit of work: " + ", ".join(offenders)


def test_transaction_checker() -> None:
    assert transaction_calls(ast.parse("def f(s):\n    s.commit()\n"))
    assert transaction_calls(ast.parse("self._session.rollback()\n"))
    assert not transaction_calls(ast.parse("with uow.write() as tx:\n    tx.session.add(x)\n"))


# -- the checkers themselves catch what they should ----------------------------------------

CRYPTO_FILE = LEMUR / "crypto" / "example.py"


@pytest.mark.parametrize(
    "source",
    [
        "from lemur.accounts.models import User\n",
        "import lemur.web.api\n",
        "from lemur import container\n",
        "def f():\n    from lemur.certificates import service\n",
        "from ..audit.service import AuditLog\n",
        "from lemur.config import Settings\n",
        "from lemur.db import Base\n",
    ],
)
def test_import_checker_catches_domain_imports(source: str) -> None:
    assert import_violations(CRYPTO_FILE, source, ALLOWED)


@pytest.mark.parametrize(
    "source",
    [
        "from lemur.errors import InvalidInput\n",
        "from lemur.crypto.keys import PrivateKey\n",
        "from lemur.plugins.base import Issuer\n",
        "from .keys import PrivateKey\n",
        "import cryptography\n",
    ],
)
def test_import_checker_allows_the_allowed(source: str) -> None:
    assert import_violations(CRYPTO_FILE, source, ALLOWED) == []


AUTHORITIES_FILE = LEMUR / "authorities" / "example.py"


@pytest.mark.parametrize(
    "source",
    [
        "from lemur.certificates.models import Certificate\n",
        "import lemur.certificates.store\n",
        "from lemur import certificates\n",
        "def f():\n    from lemur.certificates.store import CertificateStore\n",
        "from ..certificates import store\n",
    ],
)
def test_one_way_checker_catches_authorities_importing_certificates(source: str) -> None:
    assert one_way_violations(AUTHORITIES_FILE, source)


@pytest.mark.parametrize(
    "source",
    [
        "from lemur.authorities.models import Authority\n",
        "from lemur.accounts.models import Team\n",
        "from .inventory import CertificateInventory\n",
    ],
)
def test_one_way_checker_allows_the_rest(source: str) -> None:
    assert one_way_violations(AUTHORITIES_FILE, source) == []


def test_depends_checker() -> None:
    assert depends_uses(ast.parse("from fastapi import Depends\n"))
    assert depends_uses(ast.parse("import fastapi\ndef f(x=fastapi.Depends(g)): ...\n"))
    assert not depends_uses(ast.parse("def depends(): ...\n"))


@pytest.mark.parametrize(
    "source",
    [
        "settings = Settings()\n",
        "from lemur import config\nsettings = config.Settings()\n",
        "engine = create_engine('sqlite://')\n",
        "db = Database.connect(url)\n",
        "app = create_app(build_container(Settings(), init=False))\n",
        "class Holder:\n    settings = Settings()\n",
        "def handler(settings=Settings()): ...\n",
        "if True:\n    app = FastAPI()\n",
    ],
)
def test_ambient_checker_catches_import_time_state(source: str) -> None:
    assert ambient_violations(Path("example.py"), source)


@pytest.mark.parametrize(
    "source",
    [
        "def create() -> FastAPI:\n    return create_app(build_container(Settings(), init=False))\n",
        "class Factory:\n    def make(self):\n        return Settings()\n",
        "router = APIRouter(prefix='/api/v1')\n",
        "make = lambda: Settings()\n",
    ],
)
def test_ambient_checker_allows_factories(source: str) -> None:
    assert ambient_violations(Path("example.py"), source) == []
