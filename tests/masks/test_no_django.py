"""The processing core must never import Django (DESIGN.md, layers)."""
import ast
import pathlib
import subprocess
import sys

MASKS = pathlib.Path(__file__).resolve().parents[2] / "masks"


def test_no_module_under_masks_imports_django():
    offenders = []
    for path in sorted(MASKS.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in {"django", "channels", "celery", "reviews", "jewelreview"}]
    assert offenders == []


def test_importing_every_masks_module_leaves_django_unloaded():
    modules = [p.relative_to(MASKS.parent).with_suffix("").as_posix().replace("/", ".") for p in MASKS.rglob("*.py")]
    code = "import importlib, sys\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules if not m.endswith("__main__")) + "print('django' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=MASKS.parent, check=True)
    assert out.stdout.strip() == "False"
