"""The code keeps the shape a reader relies on (README "Layout", ../shared/STYLE.md): a thin
srez_main, each public name defined in one module, no function over 50 lines."""
import ast
import glob
import os

from helpers import MAIN, REPO_ROOT

MODULES = sorted(glob.glob(os.path.join(REPO_ROOT, 'srez_*.py')))
TESTS = sorted(glob.glob(os.path.join(REPO_ROOT, 'tests', '*.py')))


def definitions(path):
    with open(path) as file:
        return ast.parse(file.read())


def test_srez_main_is_flags_and_a_table_of_modes():
    with open(MAIN) as file:
        assert len(file.readlines()) <= 250


def test_no_public_function_or_class_is_defined_in_two_modules():
    defined = {}
    for path in MODULES:
        for node in definitions(path).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith('_'):
                defined.setdefault(node.name, []).append(os.path.basename(path))
    assert {name: files for name, files in defined.items() if len(files) > 1} == {}


def test_no_function_is_over_50_lines():
    long = [f'{os.path.basename(path)}:{node.name} ({node.end_lineno - node.lineno + 1} lines)'
            for path in MODULES + TESTS for node in ast.walk(definitions(path))
            if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno >= 50]
    assert long == []
