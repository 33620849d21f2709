"""The op-spec registry: each dialect op declared once, its rules found by name.

In the spirit of JAX primitives: a dialect declares an op here once (`OpSpec`: name,
input signature, attributes, the type/shape rule builders and the IR loader both run, the
doc entry, flags), and the interpreter registers the op's other concerns under the same
name (`Registry.implement("semantics", name)`, or `attach` for a table it already keeps).
A test walks every registry: each op has a REFERENCE.md entry, a semantics and a cost.

This module is imported inside the sandbox: no numpy, no interpreter imports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SEMANTICS = "semantics"
"""Concern: what the op computes (the functional pass)."""
COST = "cost"
"""Concern: when it happens (the timing rule)."""
COUNT = "count"
"""Concern: what it moves and computes (FLOPs, memory words; the roofline floor)."""

VALUE_TIMED = "value_timed"
"""Flag: the op's timing depends on data values, not only on shapes (routing by
selector values, gathers by address, sub-streams sized by values)."""
USES_COMPUTE = "uses_compute"
"""Flag: the op occupies compute units (counted against the target's budget)."""
SINK = "sink"
"""Flag: the op ends streams and has no outputs."""
FLAGS = frozenset({VALUE_TIMED, USES_COMPUTE, SINK})

REQUIRED = object()
"""Default of an attribute the program must give."""

_DSL = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class OpSpec:
    """One op of a dialect, declared once.

    `inputs` and `outputs` are the dialect's signature notation (STeP: "x*,sel" / "one");
    `attrs` maps each attribute to the dialect's descriptor (STeP: (kind, default)); `rule`
    is the type/shape rule, called with the input types and attributes (arguments are the
    dialect's); `group` sorts ops for documentation (DAE: "access" / "execute").
    """

    name: str
    doc: str
    inputs: str = ""
    outputs: str = "one"
    attrs: Mapping[str, Any] = field(default_factory=dict)
    rule: Callable[..., Any] | None = None
    flags: frozenset[str] = frozenset()
    group: str = ""

    def has(self, flag: str) -> bool:
        return flag in self.flags


class Registry(Mapping[str, OpSpec]):
    """A dialect's ops by name, plus the interpreter's rules for each concern.

    `reference` is the dialect's REFERENCE.md relative to `dsl/`; `anchor` formats, with
    `{name}`, the text that opens an op's entry there (STeP: "**`{name}(").
    """

    def __init__(self, dialect: str, reference: str, anchor: str) -> None:
        if dialect in REGISTRIES:
            raise ValueError(f"dialect {dialect!r} already has an op registry")
        self.dialect = dialect
        self.reference = reference
        self.anchor = anchor
        self._specs: dict[str, OpSpec] = {}
        self._rules: dict[str, dict[str, Callable[..., Any]]] = {}
        REGISTRIES[dialect] = self

    # --- declarations (dsl side) ---------------------------------------------------------
    def declare(self, spec: OpSpec) -> OpSpec:
        if spec.name in self._specs:
            raise ValueError(f"{self.dialect} op {spec.name!r} is declared twice")
        unknown = spec.flags - FLAGS
        if unknown:
            raise ValueError(f"{self.dialect} op {spec.name!r}: unknown flags {sorted(unknown)}")
        if not spec.doc:
            raise ValueError(f"{self.dialect} op {spec.name!r} has no doc")
        self._specs[spec.name] = spec
        return spec

    def op(
        self,
        name: str,
        inputs: str,
        outputs: str,
        doc: str,
        *,
        flags: tuple[str, ...] = (),
        group: str = "",
        **attrs: Any,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: declare op `name` with the decorated function as its rule."""

        def register(rule: Callable[..., Any]) -> Callable[..., Any]:
            self.declare(OpSpec(name, doc, inputs, outputs, attrs, rule, frozenset(flags), group))
            return rule

        return register

    def __getitem__(self, name: str) -> OpSpec:
        return self._specs[name]

    def get(self, name: str, default: Any = None) -> Any:
        """The dict's own `get` (Mapping's goes through `__getitem__` and a try): loaders
        look up every node's op."""
        return self._specs.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def flagged(self, flag: str) -> tuple[str, ...]:
        """Names of the ops that carry `flag`, in declaration order."""
        return tuple(n for n, s in self._specs.items() if flag in s.flags)

    # --- rules (interpreter side) --------------------------------------------------------
    def implement(self, concern: str, *names: str) -> Callable[[Callable], Callable]:
        """Decorator: the decorated function is `concern` of every op in `names`."""

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            table = self._rules.setdefault(concern, {})
            for n in names:
                if n in table and table[n] is not fn:
                    raise ValueError(f"{self.dialect} op {n!r} has two {concern} rules")
                table[n] = fn
            return fn

        return register

    def attach(self, concern: str, table: dict[str, Callable[..., Any]]) -> None:
        """Use a table the interpreter already keeps (name -> rule) as `concern`'s rules;
        the table stays live, so rules added to it later count too."""
        if self._rules.get(concern, table) is not table:
            raise ValueError(f"{self.dialect}: {concern} rules are already registered")
        self._rules[concern] = table

    def rules(self, concern: str) -> Mapping[str, Callable[..., Any]]:
        """Every op's `concern` rule by name (empty when the interpreter is not loaded)."""
        return self._rules.get(concern, {})

    def missing(self, concern: str) -> list[str]:
        """Declared ops without a `concern` rule."""
        have = self.rules(concern)
        return [n for n in self._specs if n not in have]

    def stray(self, concern: str) -> list[str]:
        """`concern` rules for names no op declares (a typo or a removed op)."""
        return sorted(set(self.rules(concern)) - set(self._specs))

    # --- documentation -------------------------------------------------------------------
    def reference_text(self) -> str:
        return (_DSL / self.reference).read_text()

    def undocumented(self) -> list[str]:
        """Ops without an entry in the dialect's REFERENCE.md."""
        text = self.reference_text()
        return [n for n in self._specs if self.anchor.format(name=n) not in text]


REGISTRIES: dict[str, Registry] = {}
"""Every dialect's registry, by dialect name (filled as `dsl.<dialect>` is imported)."""


def registry(dialect: str) -> Registry:
    """The op registry of `dialect`, importing the dialect's declarations if needed."""
    if dialect not in REGISTRIES:
        __import__(f"dsl.{dialect}")
    try:
        return REGISTRIES[dialect]
    except KeyError:
        raise KeyError(f"dialect {dialect!r} declares no op registry") from None
