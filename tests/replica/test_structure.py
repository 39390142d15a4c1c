"""Code structure of ``replica``: no function takes more than 10 positional parameters (compiled
code receives its parameters as typed bundles, NamedTuples such as replica.stage1.Stage1Params
and replica.stage2.Problem2; a bundle's generated constructor is the one exception, and replica
builds them by keyword)."""

import importlib
import inspect
import pkgutil

import replica

MAX_POSITIONAL = 10
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _callables():
    """(qualified name, Python function) of every function, method, class constructor and numba
    dispatcher (its ``py_func``) defined in a replica module."""
    for info in pkgutil.iter_modules(replica.__path__):
        module = importlib.import_module(f"replica.{info.name}")
        for name, obj in vars(module).items():
            if getattr(obj, "__module__", None) != module.__name__:
                continue
            if hasattr(obj, "py_func"):  # a numba dispatcher
                yield f"{module.__name__}.{name}", obj.py_func
            elif inspect.isfunction(obj):
                yield f"{module.__name__}.{name}", obj
            elif inspect.isclass(obj) and not _is_bundle(obj):
                for attr, member in vars(obj).items():
                    member = getattr(member, "__func__", member)  # classmethod, staticmethod
                    if inspect.isfunction(member):
                        yield f"{module.__name__}.{name}.{attr}", member


def _is_bundle(cls) -> bool:
    return issubclass(cls, tuple) and hasattr(cls, "_fields")


def _positional(fn) -> int:
    params = [p for p in inspect.signature(fn).parameters.values() if p.kind in _POSITIONAL]
    return len([p for p in params if p.name not in ("self", "cls", "_cls")])


def test_the_walk_sees_compiled_code_and_generated_constructors():
    names = {name for name, _ in _callables()}
    assert {
        "replica.stage2.stage2_T",
        "replica.stage2.stage2_sums",
        "replica.stage1.stage1_map",
        "replica.prediction.Prediction.__init__",
        "replica.optimize.OptimizationResult.__init__",
        "replica.setting.Setting.two_task",
    } <= names


def test_no_function_takes_more_than_ten_positional_parameters():
    too_many = {name: n for name, fn in _callables() if (n := _positional(fn)) > MAX_POSITIONAL}
    assert not too_many, too_many
