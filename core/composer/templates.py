"""Liquid templates in push texts: compiled once, rendered per recipient, sandboxed, strict.

::

    engine = TemplateEngine()                                   # strict by default
    title = engine.compile("Hi {{ first_name | default: 'there' }}", field="title")
    title.render({"first_name": "Ana"}, recipient="user u-17")  # 'Hi Ana'

**Sandbox.** A template reaches nothing but the variables it is given, and those are plain data
(``plain_variables``: dicts with string keys, lists, strings, numbers, booleans, None; datetimes become
ISO 8601 text; anything else its ``str``), so there are no Python attributes to walk. The ``include`` and
``render`` tags are not registered (no template can load another, or a file). Limits stop a template that
runs away: ``LOOP_ITERATION_LIMIT`` loop iterations, ``OUTPUT_LIMIT`` characters of output,
``CONTEXT_DEPTH_LIMIT`` nested contexts and ``NAMESPACE_LIMIT`` for ``assign``/``capture``; variables are cut
at ``VARIABLE_DEPTH_LIMIT`` levels of nesting. A stopped template raises ``TemplateError`` saying which limit.

**Strict mode** (the default): a variable that is not defined is an error that names the field, the line
and column in the template and the recipient; ``| default: …`` is the way to make a variable optional.

**Speed.** Liquid's renderer costs tens of microseconds a call. Most push texts are text with output
statements such as ``{{ user.first_name | default: "there" | upcase }}``; those compile to a short list of
literal pieces and variable lookups that render in about a microsecond. The fast path only handles the
cases whose result it knows for sure (every path segment present in a dict, a plain scalar at the end,
filters among ``default`` with a literal argument, ``upcase``, ``downcase``, ``capitalize``, ``strip``,
``lstrip``, ``rstrip``); anything else — a missing variable, a tag, another filter — goes to Liquid itself,
so output and errors are always exactly Liquid's (``tests/core/composer/test_templates.py`` checks it).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from liquid import Environment, StrictDefaultUndefined, Undefined
from liquid.builtin.content import ContentNode
from liquid.builtin.expressions.filtered import FilteredExpression
from liquid.builtin.expressions.path import Path
from liquid.builtin.expressions.primitive import Literal
from liquid.builtin.output import OutputNode
from liquid.exceptions import (
    ContextDepthError,
    LiquidError,
    LocalNamespaceLimitError,
    LoopIterationLimitError,
    OutputStreamLimitError,
    UndefinedError,
)
from liquid.stringify import to_liquid_string
from liquid.token import Token

from core.errors import ValidationError

LOOP_ITERATION_LIMIT: Final = 1_000
OUTPUT_LIMIT: Final = 16_384
CONTEXT_DEPTH_LIMIT: Final = 10
NAMESPACE_LIMIT: Final = 16_384
VARIABLE_DEPTH_LIMIT: Final = 6
#: Compiled templates kept per engine (keyed by source text): far more than one campaign uses.
CACHE_SIZE: Final = 4_096

_LIMIT_MESSAGES: dict[type[LiquidError], str] = {
    LoopIterationLimitError: f"it ran more than {LOOP_ITERATION_LIMIT:,} loop iterations",
    OutputStreamLimitError: f"it wrote more than {OUTPUT_LIMIT:,} characters",
    ContextDepthError: f"it nested more than {CONTEXT_DEPTH_LIMIT} contexts deep",
    LocalNamespaceLimitError: f"its assigned variables grew past {NAMESPACE_LIMIT:,} characters",
}


class TemplateError(ValidationError):
    """A template that cannot be compiled or rendered; ``field``, ``line``, ``column``, ``recipient`` say where."""

    def __init__(self, message: str, field: str, line: int | None = None, column: int | None = None,
                 recipient: str | None = None, reason: str = "") -> None:
        super().__init__(message, field)
        self.line = line
        self.column = column
        self.recipient = recipient
        self.reason = reason

    def for_recipient(self, recipient: str) -> TemplateError:
        """The same error, naming the recipient it happened for."""
        line, column = self.line, self.column
        where = f"{self.field}, line {line}, column {column}" if line is not None else str(self.field)
        return TemplateError(f"{where}: {self.reason} for {recipient}", str(self.field), line, column, recipient,
                             self.reason)


class _SandboxEnvironment(Environment):
    """Liquid with resource limits and without the tags that load other templates."""

    loop_iteration_limit = LOOP_ITERATION_LIMIT
    output_stream_limit = OUTPUT_LIMIT
    context_depth_limit = CONTEXT_DEPTH_LIMIT
    local_namespace_limit = NAMESPACE_LIMIT

    def setup_tags_and_filters(self, *, extra: bool = False) -> None:
        super().setup_tags_and_filters(extra=extra)
        for name in ("include", "render"):
            self.tags.pop(name, None)


def plain_variables(value: Any, depth: int = VARIABLE_DEPTH_LIMIT) -> Any:
    """``value`` as plain template data: nothing a template could use to reach Python objects."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if depth <= 0:
        return None
    if isinstance(value, Mapping):
        return {str(k): plain_variables(v, depth - 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_variables(v, depth - 1) for v in value]
    return str(value)


class _Fallback(Exception):
    """The fast path cannot be sure of the result; Liquid renders it."""


def _default(fallback: object) -> Callable[[object], object]:
    def apply(value: object) -> object:
        return fallback if value is None or value is False or value == "" else value
    return apply


def _string_filter(method: Callable[[str], str]) -> Callable[[object], object]:
    def apply(value: object) -> object:
        if type(value) is not str:
            raise _Fallback
        return method(value)
    return apply


_SIMPLE_FILTERS: dict[str, Callable[[object], object]] = {
    "upcase": _string_filter(str.upper),
    "downcase": _string_filter(str.lower),
    "capitalize": _string_filter(str.capitalize),
    "strip": _string_filter(str.strip),
    "lstrip": _string_filter(str.lstrip),
    "rstrip": _string_filter(str.rstrip),
}
_SCALARS = (str, int, float, bool, type(None))

#: One compiled piece: literal text, or (path, filters, value when the path is undefined) to look up and transform.
_Piece = str | tuple[tuple[str, ...], tuple[Callable[[object], object], ...], object]
#: Marks a piece whose first filter is not ``default``: an undefined variable there is Liquid's to report.
_NO_DEFAULT = object()
#: Keys Liquid answers itself on a dict that lacks them (``size`` is its length …).
_SPECIAL_KEYS = frozenset({"size", "first", "last"})


def _position(token: Token | None) -> tuple[int | None, int | None]:
    if token is None:
        return None, None
    source, index = token.source, token.start_index
    line = source.count("\n", 0, index) + 1
    column = index - (source.rfind("\n", 0, index) + 1) + 1
    return line, column


def _problem(exc: LiquidError) -> str:
    for kind, message in _LIMIT_MESSAGES.items():
        if isinstance(exc, kind):
            return f"stopped: {message}"
    return str(exc.message if hasattr(exc, "message") and exc.message else exc).splitlines()[0]


@dataclass(frozen=True, slots=True, eq=False)
class CompiledTemplate:
    """One field's template, parsed once; ``render`` runs it against one recipient's variables."""

    source: str
    field: str
    _template: Any
    _pieces: tuple[_Piece, ...] | None
    _fast: Callable[[Mapping[str, Any]], str] | None = None

    @property
    def is_fast(self) -> bool:
        """Whether the compiled fast path covers this template (when the variables are there)."""
        return self._pieces is not None

    def render(self, variables: Mapping[str, Any], recipient: str | None = None) -> str:
        """The text for one recipient; raises TemplateError naming the field, position and recipient."""
        fast = self._fast
        if fast is not None:
            try:
                return fast(variables)
            except _Fallback:
                pass
        try:
            return str(self._template.render(**variables))
        except LiquidError as exc:
            line, column = _position(getattr(exc, "token", None))
            where = f"{self.field}, line {line}, column {column}" if line is not None else self.field
            who = f" for {recipient}" if recipient else ""
            reason = _problem(exc)
            raise TemplateError(f"{where}: {reason}{who}", self.field, line, column, recipient, reason) from None


def _generate(pieces: tuple[_Piece, ...]) -> Callable[[Mapping[str, Any]], str]:
    """One Python function rendering these pieces, or raising ``_Fallback`` when Liquid must decide.

    Each variable is looked up through dicts only; an absent key takes the piece's leading ``default`` (if
    it has one and the key is not one Liquid answers itself, like ``size``); the value must be a plain
    scalar; the filters run; the result is Liquid's string form. The source is built only from our own
    constructs — path segments enter it as ``repr`` string literals.
    """
    namespace: dict[str, Any] = {"_F": _Fallback, "_S": frozenset(_SCALARS), "_tls": to_liquid_string}
    lines = ["def render(v):"]
    parts: list[str] = []
    for n, piece in enumerate(pieces):
        if isinstance(piece, str):
            namespace[f"L{n}"] = piece
            parts.append(f"L{n}")
            continue
        path, filters, missing = piece
        lines.append("    x = v")
        lines.append("    ok = True")
        indent = "    "
        for segment in path:
            key = repr(segment)
            lines.append(f"{indent}if type(x) is dict and {key} in x:")
            lines.append(f"{indent}    x = x[{key}]")
            indent += "    "
        for segment in reversed(path):
            indent = indent[:-4]
            lines.append(f"{indent}else:")
            if missing is _NO_DEFAULT or segment in _SPECIAL_KEYS:
                lines.append(f"{indent}    raise _F")
            else:
                namespace[f"D{n}"] = missing
                lines.append(f"{indent}    if type(x) is not dict: raise _F")
                lines.append(f"{indent}    x = D{n}")
                lines.append(f"{indent}    ok = False")
        lines.append("    if type(x) not in _S: raise _F")
        for j, apply in enumerate(filters):
            namespace[f"f{n}_{j}"] = apply
            lines.append(f"    if ok: x = f{n}_{j}(x)" if j == 0 else f"    x = f{n}_{j}(x)")
        lines.append(f"    p{n} = x if type(x) is str else _tls(x, False)")
        parts.append(f"p{n}")
    lines.append(f"    return ''.join(({', '.join(parts)},))" if parts else "    return ''")
    exec(compile("\n".join(lines), "<herald-template>", "exec"), namespace)
    render: Callable[[Mapping[str, Any]], str] = namespace["render"]
    return render


class TemplateEngine:
    """Compiles push texts with a sandboxed Liquid environment and caches them by source text."""

    def __init__(self, *, strict: bool = True, cache_size: int = CACHE_SIZE) -> None:
        self.strict = strict
        self._env = _SandboxEnvironment(undefined=StrictDefaultUndefined if strict else Undefined)
        self._cache: OrderedDict[tuple[str, str], CompiledTemplate] = OrderedDict()
        self._cache_size = cache_size
        self.compiled = 0

    def compile(self, source: str, field: str) -> CompiledTemplate:
        """The compiled template for ``source`` (from the cache when seen before); TemplateError if invalid."""
        key = (source, field)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        try:
            template = self._env.from_string(source, name=field)
        except LiquidError as exc:
            line, column = _position(getattr(exc, "token", None))
            reason = _problem(exc)
            where = f"{field}, line {line}, column {column}" if line is not None else field
            raise TemplateError(f"{where}: {reason}", field, line, column, None, reason) from None
        pieces = self._fast_pieces(template) if self.strict else None
        compiled = CompiledTemplate(source, field, template, pieces, _generate(pieces) if pieces is not None else None)
        self.compiled += 1
        self._cache[key] = compiled
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return compiled

    def parse_uncached(self, source: str, field: str) -> Any:
        """Liquid's own template object, parsed afresh (the benchmark's baseline)."""
        return self._env.from_string(source, name=field)

    @staticmethod
    def _fast_pieces(template: Any) -> tuple[_Piece, ...] | None:
        pieces: list[_Piece] = []
        for node in template.nodes:
            if isinstance(node, ContentNode):
                pieces.append(node.text)
                continue
            if not isinstance(node, OutputNode) or not isinstance(node.expression, FilteredExpression):
                return None
            expression = node.expression
            filters: list[Callable[[object], object]] = []
            missing: object = _NO_DEFAULT
            for f in expression.filters or ():
                if f.name == "default" and len(f.args) == 1 and type(f.args[0]).__name__ == "PositionalArgument" \
                        and isinstance(f.args[0].value, Literal):
                    if not filters:
                        missing = f.args[0].value.value
                    filters.append(_default(f.args[0].value.value))
                elif f.name in _SIMPLE_FILTERS and not f.args:
                    filters.append(_SIMPLE_FILTERS[f.name])
                else:
                    return None
            left = expression.left
            if isinstance(left, Literal) and not filters:
                pieces.append(to_liquid_string(left.value, False))
            elif isinstance(left, Path) and all(type(s) is str for s in left.path):
                pieces.append((tuple(str(s) for s in left.path), tuple(filters), missing))
            else:
                return None
        return tuple(pieces)


def is_undefined_error(exc: BaseException) -> bool:
    """True when ``exc`` (a TemplateError) was an undefined variable in strict mode."""
    return isinstance(exc, TemplateError) and "undefined" in exc.reason


__all__ = ["CompiledTemplate", "TemplateEngine", "TemplateError", "UndefinedError", "plain_variables"]
